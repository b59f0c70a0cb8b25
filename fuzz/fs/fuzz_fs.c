/* Fuzz target for the whole FUSE server (backends/fs) on a scratch
 * directory: the input is a server configuration and then a sequence of
 * requests, sent after INIT the way a guest kernel sends them. Node ids and
 * file handles that earlier replies handed out are remembered, and later
 * requests pick them by index, so that a sequence reaches deep state
 * (create, write, chown, xattrs, rename, readdirplus, forget, ...). The
 * scratch directory is made afresh for every input (a small tmpfs when the
 * process may mount one), so runs stay independent and cannot fill a disk.
 * After each input the tree is checked for what a guest must never achieve
 * on the host (an s-bit, or guest data in a setuid file, another owner, a
 * device node, a security.* or trusted.* xattr, a change outside the
 * exports): a violation aborts. Any crash, leak or sanitizer report is a
 * bug; errors are the expected reply to most requests.
 *
 * Input: one configuration byte (export layout, descriptor budget), the
 * guest views recorded on a host file and directory, then steps of: opcode
 * index, node index, handle index, name index, shape, and the opcode's
 * fields (fuzz/fs/make_corpus.py writes seeds in this form).
 * FUZZ_FS_TRACE=1 prints each request and its result.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/fuse.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backends/fs/fs_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_STEPS 64
#define MAX_IDS 64
#define REPLY_SIZE (1 << 17)

/* ---- the scratch directory ---- */

static char scratch[64];
static bool scratch_is_tmpfs;
/* The inodes made setuid and device in the fresh tree (0: none). */
static ino_t seeded_suid, seeded_dev;

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (ftw->level > 0)
		remove(path);
	return 0;
}

static void scratch_remove(void)
{
	if (scratch_is_tmpfs)
		umount2(scratch, MNT_DETACH);
	else
		nftw(scratch, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	rmdir(scratch);
}

static bool write_id_map(const char *file, unsigned id)
{
	char buf[64];
	int fd = open(file, O_WRONLY | O_CLOEXEC);
	int n = snprintf(buf, sizeof(buf), "%u %u 1\n", id, id);
	bool ok = fd >= 0 && write(fd, buf, (size_t)n) == n;
	if (fd >= 0)
		close(fd);
	return ok;
}

/* A mount namespace of our own (as root, or as root of a new user
 * namespace) so that the scratch directory can be a small tmpfs. */
static bool own_mount_namespace(void)
{
	if (unshare(CLONE_NEWNS) == 0)
		return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
	unsigned uid = getuid(), gid = getgid();
	if (unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		return false;
	int fd = open("/proc/self/setgroups", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "deny", 4) != 4)
			fprintf(stderr, "fuzz_fs: /proc/self/setgroups: %s\n", strerror(errno));
		close(fd);
	}
	return write_id_map("/proc/self/uid_map", uid) && write_id_map("/proc/self/gid_map", gid) &&
	       mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) == 0;
}

/* A fresh tree: an export with a file, a directory, a symlink out of it, a
 * FIFO, a setuid file, a file and a directory carrying guest views (what
 * the host may hold: any bytes), a read-only part and a hidden work
 * directory. */
static void scratch_fill(const char *file_record, const char *dir_record)
{
	static const char *const dirs[] = {"x", "x/d", "x/ro", "x/.w", "outside"};
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		char p[128];
		snprintf(p, sizeof(p), "%s/%s", scratch, dirs[i]);
		mkdir(p, 0755);
	}
	static const char *const files[] = {"x/f", "x/d/g", "x/ro/k", "x/s", "x/r", "outside/secret"};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		char p[128];
		snprintf(p, sizeof(p), "%s/%s", scratch, files[i]);
		int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
		if (fd >= 0) {
			if (write(fd, "0123456789", 10) != 10)
				fprintf(stderr, "fuzz_fs: %s: short write\n", p);
			close(fd);
		}
	}
	char p[128];
	struct stat st;
	snprintf(p, sizeof(p), "%s/x/s", scratch);
	chmod(p, 04755);
	seeded_suid = stat(p, &st) == 0 ? st.st_ino : 0;
	snprintf(p, sizeof(p), "%s/x/r", scratch);
	setxattr(p, "user.containers.override_stat", file_record, strlen(file_record), 0);
	snprintf(p, sizeof(p), "%s/x/d", scratch);
	setxattr(p, "user.containers.override_stat", dir_record, strlen(dir_record), 0);
	snprintf(p, sizeof(p), "%s/x/l", scratch);
	symlink("../../etc/passwd", p);
	snprintf(p, sizeof(p), "%s/x/p", scratch);
	mkfifo(p, 0644);
	snprintf(p, sizeof(p), "%s/x/n", scratch);
	/* Only where allowed. */
	seeded_dev = mknod(p, S_IFCHR | 0666, makedev(1, 3)) == 0 && stat(p, &st) == 0 ? st.st_ino : 0;
}

/* ---- what the guest must never achieve on the host ---- */

static void violated(const char *path, const char *what)
{
	fprintf(stderr, "fuzz_fs: %s: %s\n", path, what);
	abort();
}

/* Whether the file at path still holds what scratch_fill() wrote. */
static bool unchanged(const char *path)
{
	char buf[16];
	int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, buf, sizeof(buf)) : -1;
	if (fd >= 0)
		close(fd);
	return n == 10 && !memcmp(buf, "0123456789", 10);
}

/* Every host object: the fuzzer's own owner and group, no s-bit (but on
 * the setuid file of the tree, as long as the guest did not change it), no
 * device but the one the tree was made with (or overlayfs whiteouts), no
 * security.* or trusted.* attribute; nothing outside the exports
 * changed. */
static int check_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (st->st_uid != geteuid() || st->st_gid != getegid())
		violated(path, "owner changed");
	if ((st->st_mode & (S_ISUID | S_ISGID | S_ISVTX)) &&
	    (st->st_ino != seeded_suid || !unchanged(path)))
		violated(path, "setuid, setgid or sticky");
	if ((S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode)) && st->st_rdev != 0 &&
	    st->st_ino != seeded_dev)
		violated(path, "a device node");
	char list[4096];
	ssize_t n = llistxattr(path, list, sizeof(list));
	for (ssize_t i = 0; i < n; i += (ssize_t)strlen(list + i) + 1)
		if (!strncmp(list + i, "security.", 9) || !strncmp(list + i, "trusted.", 8))
			violated(path, list + i);
	return 0;
}

static void check_host(void)
{
	nftw(scratch, check_one, 16, FTW_PHYS);
	char p[128];
	snprintf(p, sizeof(p), "%s/outside/secret", scratch);
	if (!unchanged(p))
		violated(p, "changed");
}

static void scratch_reset(const char *file_record, const char *dir_record)
{
	if (!scratch[0]) {
		snprintf(scratch, sizeof(scratch), "/tmp/nook-fuzz-fs-XXXXXX");
		if (!mkdtemp(scratch)) {
			perror("fuzz_fs: mkdtemp");
			abort();
		}
		scratch_is_tmpfs = own_mount_namespace();
		atexit(scratch_remove);
		if (!scratch_is_tmpfs)
			fprintf(stderr, "fuzz_fs: no tmpfs (no mount namespace): using %s\n", scratch);
	}
	if (scratch_is_tmpfs) {
		umount2(scratch, MNT_DETACH);
		if (mount("tmpfs", scratch, "tmpfs", MS_NOSUID | MS_NODEV,
			  "size=4m,nr_inodes=1024,mode=0755") < 0) {
			perror("fuzz_fs: mount tmpfs");
			abort();
		}
	} else {
		nftw(scratch, remove_one, 16, FTW_DEPTH | FTW_PHYS);
	}
	scratch_fill(file_record, dir_record);
}

/* ---- reading the input ---- */

struct input {
	const uint8_t *p;
	size_t left;
};

static void take(struct input *in, void *out, size_t len)
{
	size_t n = len < in->left ? len : in->left;
	memcpy(out, in->p, n);
	memset((uint8_t *)out + n, 0, len - n);
	in->p += n;
	in->left -= n;
}

static uint8_t take8(struct input *in)
{
	uint8_t v;
	take(in, &v, 1);
	return v;
}

/* A number: mostly small, sometimes any 32 or 64 bits. */
static uint64_t take_num(struct input *in)
{
	uint8_t tag = take8(in);
	if (tag < 192)
		return take8(in);
	if (tag < 224) {
		uint32_t v;
		take(in, &v, sizeof(v));
		return v;
	}
	uint64_t v;
	take(in, &v, sizeof(v));
	return v;
}

/* ---- the session ---- */

struct session {
	struct fs_server *s;
	struct input in;
	uint64_t nodes[MAX_IDS], fhs[MAX_IDS];
	unsigned nnodes, nfhs;
	uint64_t unique;
	uint8_t req[1024];
	size_t len; /* of the arguments in req after the header */
	uint8_t *reply;
	bool trace; /* FUZZ_FS_TRACE set: each request and its result on stderr */
};

static void remember(uint64_t *ids, unsigned *n, uint64_t id)
{
	ids[*n % MAX_IDS] = id;
	(*n)++;
}

/* An id from `ids` by index, or the root, 0, or any 64 bits. */
static uint64_t pick(struct session *ss, const uint64_t *ids, unsigned n, uint8_t sel)
{
	unsigned have = n < MAX_IDS ? n : MAX_IDS;
	if (sel < have)
		return ids[sel];
	switch ((sel - have) % 3) {
	case 0: return FUSE_ROOT_ID;
	case 1: return 0;
	default: return take_num(&ss->in);
	}
}

static const char *const names[] = {
	"f", "d", "g", "l", "p", "n", "s", "r", "k", "new", "new2", "x", ".w", "ro", "rw", "wk",
	".", "..", "", "a/b",
	"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
	"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"
	"nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn",
};

static const char *const xattr_names[] = {
	"user.a", "user.b", "security.capability", "security.selinux", "trusted.overlay.opaque",
	"trusted.x", "user.overlay.opaque", "user.containers.override_stat",
	"user.nook.security.capability", "user.nook.x", "system.posix_acl_access", "other.x",
	"security.", "trusted.",
};

#define VALUE(s) {s, sizeof(s) - 1}
static const struct {
	const char *data;
	size_t len;
} values[] = {
	VALUE(""), VALUE("y"), VALUE("0:0:4755:file"), VALUE("1000:1000:0644:pipe"),
	VALUE("0:0:0755:char-1-3"), VALUE("5:5:2755"), VALUE("0:0:0100755"), VALUE("x:y:z"),
	VALUE("4294967295:0:0644:file"), VALUE("0:0:0755:dir"), VALUE("0:0:0777:symlink"),
	/* vfs_cap_data revision 2, CAP_SETUID */
	VALUE("\x01\x00\x00\x02\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00"
	      "\x00\x00\x00"),
};

static void put(struct session *ss, const void *data, size_t len)
{
	if (ss->len + len > sizeof(ss->req) - sizeof(struct fuse_in_header))
		len = sizeof(ss->req) - sizeof(struct fuse_in_header) - ss->len;
	memcpy(ss->req + sizeof(struct fuse_in_header) + ss->len, data, len);
	ss->len += len;
}

/* A name from the list, or (index 255) one from the input. */
static void put_name(struct session *ss, const char *const *list, size_t n, uint8_t sel)
{
	if (sel == 255) {
		char raw[2 * 255];
		size_t len = take8(&ss->in) + (size_t)take8(&ss->in);
		take(&ss->in, raw, len);
		put(ss, raw, len);
		put(ss, "", 1);
		return;
	}
	const char *name = list[sel % n];
	put(ss, name, strlen(name) + 1);
}

#define NAME(ss, sel) put_name(ss, names, sizeof(names) / sizeof(names[0]), sel)

/* The opcodes a step can send; the last entries are raw requests. */
static const uint32_t opcodes[] = {
	FUSE_LOOKUP,	  FUSE_FORGET,	    FUSE_GETATTR,     FUSE_SETATTR,	FUSE_READLINK,
	FUSE_SYMLINK,	  FUSE_MKNOD,	    FUSE_MKDIR,	      FUSE_UNLINK,	FUSE_RMDIR,
	FUSE_RENAME,	  FUSE_LINK,	    FUSE_OPEN,	      FUSE_READ,	FUSE_WRITE,
	FUSE_STATFS,	  FUSE_RELEASE,	    FUSE_FSYNC,	      FUSE_SETXATTR,	FUSE_GETXATTR,
	FUSE_LISTXATTR,	  FUSE_REMOVEXATTR, FUSE_FLUSH,	      FUSE_INIT,	FUSE_OPENDIR,
	FUSE_READDIR,	  FUSE_RELEASEDIR,  FUSE_FSYNCDIR,    FUSE_ACCESS,	FUSE_CREATE,
	FUSE_INTERRUPT,	  FUSE_DESTROY,	    FUSE_BATCH_FORGET, FUSE_FALLOCATE,	FUSE_READDIRPLUS,
	FUSE_RENAME2,	  FUSE_LSEEK,	    FUSE_COPY_FILE_RANGE, FUSE_SYNCFS,	FUSE_TMPFILE,
	FUSE_GETLK,	  0 /* raw */,
};

/* The fixed arguments and names of one request of `opcode`. Fields are
 * taken from the input one statement at a time: the order in which an
 * initializer list is evaluated is unspecified, and seeds must mean the
 * same to every compiler. */
static void build_args(struct session *ss, uint32_t opcode, uint64_t fh, uint8_t name)
{
	struct input *in = &ss->in;
	switch (opcode) {
	case FUSE_READLINK:
	case FUSE_STATFS:
	case FUSE_SYNCFS:
	case FUSE_DESTROY:
	case FUSE_INTERRUPT:
	case FUSE_FLUSH:
	case FUSE_GETLK:
		break;
	case FUSE_LOOKUP:
	case FUSE_UNLINK:
	case FUSE_RMDIR:
		NAME(ss, name);
		break;
	case FUSE_FORGET: {
		struct fuse_forget_in a = {0};
		a.nlookup = take_num(in);
		put(ss, &a, sizeof(a));
		break;
	}
	case FUSE_BATCH_FORGET: {
		struct fuse_batch_forget_in a = {0};
		uint8_t count = take8(in) % 8;
		a.count = count + (take8(in) == 255 ? 1000 : 0);
		put(ss, &a, sizeof(a));
		for (uint8_t i = 0; i < count; i++) {
			struct fuse_forget_one one;
			one.nodeid = pick(ss, ss->nodes, ss->nnodes, take8(in));
			one.nlookup = take_num(in);
			put(ss, &one, sizeof(one));
		}
		break;
	}
	case FUSE_GETATTR: {
		struct fuse_getattr_in a = {.fh = fh};
		a.getattr_flags = take8(in) & FUSE_GETATTR_FH;
		put(ss, &a, sizeof(a));
		break;
	}
	case FUSE_SETATTR: {
		struct fuse_setattr_in a = {.fh = fh};
		a.valid = (uint32_t)take_num(in);
		a.size = take_num(in);
		a.atime = take_num(in);
		a.mtime = take_num(in);
		a.atimensec = (uint32_t)take_num(in);
		a.mode = (uint32_t)take_num(in);
		a.uid = (uint32_t)take_num(in);
		a.gid = (uint32_t)take_num(in);
		put(ss, &a, sizeof(a));
		break;
	}
	case FUSE_SYMLINK:
		NAME(ss, name);
		NAME(ss, take8(in));
		break;
	case FUSE_MKNOD: {
		static const uint32_t types[] = {S_IFREG, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK,
						 S_IFDIR, S_IFLNK, 0};
		struct fuse_mknod_in a = {0};
		a.mode = types[take8(in) % 8];
		a.mode |= (uint32_t)(take_num(in) & 07777);
		a.rdev = (uint32_t)take_num(in);
		put(ss, &a, sizeof(a));
		NAME(ss, name);
		break;
	}
	case FUSE_MKDIR: {
		struct fuse_mkdir_in a = {0};
		a.mode = (uint32_t)take_num(in);
		put(ss, &a, sizeof(a));
		NAME(ss, name);
		break;
	}
	case FUSE_RENAME:
	case FUSE_RENAME2: {
		struct fuse_rename2_in a = {0};
		a.newdir = pick(ss, ss->nodes, ss->nnodes, take8(in));
		a.flags = take8(in) % 9;
		put(ss, &a, opcode == FUSE_RENAME ? sizeof(struct fuse_rename_in) : sizeof(a));
		NAME(ss, name);
		NAME(ss, take8(in));
		break;
	}
	case FUSE_LINK: {
		struct fuse_link_in a;
		a.oldnodeid = pick(ss, ss->nodes, ss->nnodes, take8(in));
		put(ss, &a, sizeof(a));
		NAME(ss, name);
		break;
	}
	case FUSE_OPEN:
	case FUSE_OPENDIR: {
		struct fuse_open_in a;
		a.flags = (uint32_t)take_num(in);
		a.open_flags = take8(in) & FUSE_OPEN_KILL_SUIDGID;
		put(ss, &a, sizeof(a));
		break;
	}
	case FUSE_READ:
	case FUSE_READDIR:
	case FUSE_READDIRPLUS: {
		struct fuse_read_in a = {.fh = fh};
		a.offset = take_num(in);
		a.size = (uint32_t)take_num(in) << 4; /* in 16-byte units */
		put(ss, &a, sizeof(a));
		break;
	}
	case FUSE_WRITE: {
		uint8_t data[64];
		uint8_t n = take8(in) % sizeof(data);
		struct fuse_write_in a = {.fh = fh, .size = n};
		a.offset = take_num(in);
		a.write_flags = take8(in) & FUSE_WRITE_KILL_SUIDGID;
		if (take8(in) == 255) /* claims more than it carries */
			a.size = (uint32_t)take_num(in);
		take(in, data, n);
		put(ss, &a, sizeof(a));
		put(ss, data, n);
		break;
	}
	case FUSE_RELEASE:
	case FUSE_RELEASEDIR: {
		struct fuse_release_in a = {.fh = fh};
		put(ss, &a, sizeof(a));
		break;
	}
	case FUSE_FSYNC:
	case FUSE_FSYNCDIR: {
		struct fuse_fsync_in a = {.fh = fh};
		a.fsync_flags = take8(in);
		put(ss, &a, sizeof(a));
		break;
	}
	case FUSE_SETXATTR: {
		uint8_t v = take8(in) % (sizeof(values) / sizeof(values[0]));
		struct fuse_setxattr_in a = {.size = (uint32_t)values[v].len};
		a.flags = take8(in) % 4;
		if (take8(in) == 255)
			a.size = (uint32_t)take_num(in);
		put(ss, &a, FUSE_COMPAT_SETXATTR_IN_SIZE);
		put_name(ss, xattr_names, sizeof(xattr_names) / sizeof(xattr_names[0]), name);
		put(ss, values[v].data, values[v].len);
		break;
	}
	case FUSE_GETXATTR:
	case FUSE_LISTXATTR: {
		static const uint32_t sizes[] = {0, 1, 8, 64, 4096, 65536, 1u << 20};
		struct fuse_getxattr_in a = {0};
		a.size = sizes[take8(in) % 7];
		put(ss, &a, sizeof(a));
		if (opcode == FUSE_GETXATTR)
			put_name(ss, xattr_names, sizeof(xattr_names) / sizeof(xattr_names[0]),
				 name);
		break;
	}
	case FUSE_REMOVEXATTR:
		put_name(ss, xattr_names, sizeof(xattr_names) / sizeof(xattr_names[0]), name);
		break;
	case FUSE_INIT: {
		struct fuse_init_in a = {0};
		a.major = 6 + take8(in) % 3;
		a.minor = 27 + take8(in) % 16;
		a.max_readahead = (uint32_t)take_num(in);
		a.flags = (uint32_t)take_num(in);
		put(ss, &a, sizeof(a));
		break;
	}
	case FUSE_ACCESS: {
		struct fuse_access_in a = {0};
		a.mask = take8(in);
		put(ss, &a, sizeof(a));
		break;
	}
	case FUSE_CREATE:
	case FUSE_TMPFILE: {
		struct fuse_create_in a = {0};
		a.flags = (uint32_t)take_num(in);
		a.mode = (uint32_t)take_num(in);
		a.open_flags = take8(in) & FUSE_OPEN_KILL_SUIDGID;
		put(ss, &a, sizeof(a));
		if (opcode == FUSE_CREATE)
			NAME(ss, name);
		break;
	}
	case FUSE_FALLOCATE: {
		struct fuse_fallocate_in a = {.fh = fh};
		a.offset = take_num(in);
		a.length = take_num(in);
		a.mode = take8(in) & 0x7f;
		/* Never more than 1 MiB reaches the host file system, so that a
		 * run cannot fill a disk (values the server refuses stay). */
		if (a.length > (1u << 20) && a.length <= INT64_MAX)
			a.length &= (1u << 20) - 1;
		put(ss, &a, sizeof(a));
		break;
	}
	case FUSE_LSEEK: {
		struct fuse_lseek_in a = {.fh = fh};
		a.offset = take_num(in);
		a.whence = take8(in) % 6;
		put(ss, &a, sizeof(a));
		break;
	}
	case FUSE_COPY_FILE_RANGE: {
		struct fuse_copy_file_range_in a = {.fh_in = fh};
		a.off_in = take_num(in);
		a.fh_out = pick(ss, ss->fhs, ss->nfhs, take8(in));
		a.off_out = take_num(in);
		a.len = take_num(in);
		a.flags = take8(in) == 255;
		put(ss, &a, sizeof(a));
		break;
	}
	default: { /* anything, up to 200 bytes */
		uint8_t raw[200];
		uint8_t n = take8(in) % sizeof(raw);
		take(in, raw, n);
		put(ss, raw, n);
		break;
	}
	}
}

/* Remembers the node ids and handles a reply hands out. */
static void harvest(struct session *ss, uint32_t opcode, size_t len)
{
	const uint8_t *d = ss->reply + sizeof(struct fuse_out_header);
	len -= sizeof(struct fuse_out_header);
	switch (opcode) {
	case FUSE_LOOKUP:
	case FUSE_MKNOD:
	case FUSE_MKDIR:
	case FUSE_SYMLINK:
	case FUSE_LINK:
	case FUSE_CREATE:
	case FUSE_TMPFILE:
		if (len >= sizeof(struct fuse_entry_out))
			remember(ss->nodes, &ss->nnodes, ((const struct fuse_entry_out *)d)->nodeid);
		if (len >= sizeof(struct fuse_entry_out) + sizeof(struct fuse_open_out))
			remember(ss->fhs, &ss->nfhs,
				 ((const struct fuse_open_out *)(d + sizeof(struct fuse_entry_out)))->fh);
		break;
	case FUSE_OPEN:
	case FUSE_OPENDIR:
		if (len >= sizeof(struct fuse_open_out))
			remember(ss->fhs, &ss->nfhs, ((const struct fuse_open_out *)d)->fh);
		break;
	case FUSE_READDIRPLUS:
		for (size_t off = 0; off + FUSE_NAME_OFFSET_DIRENTPLUS <= len;) {
			const struct fuse_direntplus *e = (const void *)(d + off);
			if (e->entry_out.nodeid)
				remember(ss->nodes, &ss->nnodes, e->entry_out.nodeid);
			off += FUSE_DIRENTPLUS_SIZE(e);
		}
		break;
	default:
		break;
	}
}

/* Sends req (header + ss->len bytes), split into two iovecs at `split`
 * (or cut there), with a reply buffer of `cap` bytes. */
static void send(struct session *ss, uint32_t opcode, uint64_t node, uint32_t uid, size_t split,
		 bool cut, size_t cap, uint32_t len_delta)
{
	size_t total = sizeof(struct fuse_in_header) + ss->len;
	struct fuse_in_header h = {.len = (uint32_t)total + len_delta, .opcode = opcode,
				   .unique = ++ss->unique, .nodeid = node, .uid = uid, .gid = uid};
	memcpy(ss->req, &h, sizeof(h));
	if (split > total)
		split = total;
	struct iovec in[2] = {{ss->req, split}, {ss->req + split, total - split}};
	struct iovec out = {ss->reply, cap};
	ssize_t n = fs_server_handle(ss->s, in, cut ? 1 : 2, &out, 1);
	int error = n >= (ssize_t)sizeof(struct fuse_out_header)
			    ? ((struct fuse_out_header *)ss->reply)->error : 0;
	if (ss->trace)
		fprintf(stderr, "op %u node %#llx uid %u: %zd bytes, error %d\n", opcode,
			(unsigned long long)node, uid, n, error);
	if (n >= (ssize_t)sizeof(struct fuse_out_header) && !error)
		harvest(ss, opcode, (size_t)n);
}

static void step(struct session *ss)
{
	struct input *in = &ss->in;
	uint32_t opcode = opcodes[take8(in) % (sizeof(opcodes) / sizeof(opcodes[0]))];
	uint8_t nsel = take8(in), fsel = take8(in), name = take8(in), shape = take8(in);
	uint64_t node = pick(ss, ss->nodes, ss->nnodes, nsel);
	uint64_t fh = pick(ss, ss->fhs, ss->nfhs, fsel);
	ss->len = 0;
	if (!opcode) /* raw: any opcode */
		opcode = (uint32_t)take_num(in);
	build_args(ss, opcode, fh, name);
	/* shape: who asks (root or a user), reply room, iovec split (or a
	 * request cut short), a wrong length in the header. */
	static const size_t caps[] = {REPLY_SIZE, REPLY_SIZE, REPLY_SIZE, 0, 8, 40, 100, 4096};
	uint32_t uid = shape & 1 ? 1000 : 0;
	size_t cap = caps[(shape >> 1) % 8];
	uint8_t split = shape & 0x10 ? take8(in) : 0;
	uint32_t delta = (shape & 0xe0) == 0xe0 ? (uint32_t)take_num(in) : 0;
	send(ss, opcode, node, uid, split & 0x7f, split & 0x80, cap, delta);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t reply[REPLY_SIZE];
	static struct session ss;
	ss = (struct session){.in = {data, size}, .reply = reply,
			      .trace = getenv("FUZZ_FS_TRACE") != NULL};
	uint8_t config = take8(&ss.in);
	char records[2][64];
	for (int i = 0; i < 2; i++) {
		size_t len = take8(&ss.in) % sizeof(records[i]);
		take(&ss.in, records[i], len);
		records[i][len] = 0;
	}
	scratch_reset(records[0], records[1]);
	char x[96], ro[96], wk[96], f[96];
	snprintf(x, sizeof(x), "%s/x", scratch);
	snprintf(ro, sizeof(ro), "%s/x/ro", scratch);
	snprintf(wk, sizeof(wk), "%s/x/.w", scratch);
	snprintf(f, sizeof(f), "%s/x/f", scratch);
	struct fs_export layouts[4][3] = {
		{{.host_path = x}},
		{{.name = "rw", .host_path = x}, {.name = "ro", .host_path = ro, .read_only = true},
		 {.name = "wk", .host_path = wk}},
		{{.host_path = x, .read_only = true}},
		{{.name = "f", .host_path = f}},
	};
	static const size_t nexports[4] = {1, 3, 1, 1};
	struct fs_server_options opt = {
		.exports = layouts[config % 4], .nexports = nexports[config % 4],
		.hidden_name = ".w", .max_write = 65536, .max_fds = 4 + (config >> 2)};
	nook_error *err = NULL;
	if (fs_server_create(&opt, &ss.s, &err) < 0) {
		fprintf(stderr, "fuzz_fs: %s\n", nook_error_message(err));
		abort();
	}
	struct fuse_init_in init = {.major = 7, .minor = 38, .max_readahead = 65536,
				    .flags = 0xffffffff};
	ss.len = 0;
	put(&ss, &init, sizeof(init));
	send(&ss, FUSE_INIT, 0, 0, 0, false, REPLY_SIZE, 0);
	for (int i = 0; i < MAX_STEPS && ss.in.left; i++)
		step(&ss);
	fs_server_destroy(ss.s);
	check_host();
	return 0;
}
