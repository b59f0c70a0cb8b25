/* One layer archive into a directory. The archive is hostile:
 *   - names: a leading "/" or "./" is dropped (as tar does), "." and empty
 *     components skipped, ".." refused; every parent is walked one
 *     component at a time with O_NOFOLLOW, so a symlink planted by an
 *     earlier entry is never followed (ELOOP/ENOTDIR: refused);
 *   - hard links only to an entry already in this layer (linkat without
 *     following);
 *   - nothing on the host gets an s-bit, a foreign owner or a device: the
 *     host object is a plain file or directory with fs_host_mode()'s
 *     permissions, and where the guest must see something else (owner,
 *     mode, s-bits, FIFO, socket, device) the ownership record says it;
 *   - limits on file data, entries and name lengths;
 *   - what is read is hashed on the way and checked against the digest at
 *     the end (the caller throws the directory away on any error).
 * OCI whiteouts: ".wh.NAME" becomes NAME as a character device 0/0 (what
 * overlayfs takes for a whiteout; unprivileged mknod of 0/0 works since
 * Linux 5.8, and before that a plain file whose record says char-0-0 is
 * what the guest sees the same way), ".wh..wh..opq" marks its directory
 * opaque with user.overlay.opaque=y (the guest mounts with userxattr). */
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backends/fs/fs_server.h"
#include "image/image_internal.h"
#include "util/error.h"

#define WHITEOUT_PREFIX ".wh."
#define WHITEOUT_OPAQUE ".wh..wh..opq"
#define OVERLAY_XATTRS "user.overlay."
#define OPAQUE_XATTR OVERLAY_XATTRS "opaque"
#define READ_CHUNK (256u << 10)

struct hashed_input {
	int fd;
	struct sha256 hash;
	uint64_t bytes;
	const struct layer_unpack_progress *progress;
	uint8_t buf[READ_CHUNK];
};

struct unpack {
	int root;
	const char *layer;
	const struct layer_limits *limits;
	uint64_t bytes, entries;
	uid_t host_uid;
	gid_t host_gid;
	/* The parent directory of the last entry, kept open: tar lists a
	 * directory's entries together. */
	char parent[PATH_MAX];
	int parent_fd;
	const char *entry; /* for errors */
	nook_error **err;
};

static la_ssize_t read_hashed(struct archive *a, void *opaque, const void **buf)
{
	struct hashed_input *in = opaque;
	ssize_t n;
	do
		n = read(in->fd, in->buf, sizeof(in->buf));
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		archive_set_error(a, errno, "read: %s", strerror(errno));
		return -1;
	}
	sha256_update(&in->hash, in->buf, (size_t)n);
	in->bytes += (uint64_t)n;
	if (in->progress && in->progress->fn)
		in->progress->fn(in->progress->opaque, in->bytes);
	*buf = in->buf;
	return n;
}

__attribute__((format(printf, 3, 4)))
static int fail(struct unpack *u, int code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (u->entry)
		return error_set(u->err, code, "layer %s: entry \"%.200s\": %s", u->layer, u->entry,
				 msg);
	return error_set(u->err, code, "layer %s: %s", u->layer, msg);
}

/* The entry's name as a path relative to the layer ("" for its root). */
static int normalize(struct unpack *u, const char *name, char out[PATH_MAX])
{
	size_t len = 0;
	out[0] = '\0';
	while (*name) {
		const char *end = strchrnul(name, '/');
		size_t n = (size_t)(end - name);
		if (n == 2 && name[0] == '.' && name[1] == '.')
			return fail(u, EINVAL, "\"..\" leaves the layer");
		if (n > NAME_MAX)
			return fail(u, ENAMETOOLONG, "a name longer than %d bytes", NAME_MAX);
		if (n && !(n == 1 && name[0] == '.')) {
			if (len + n + 2 > PATH_MAX)
				return fail(u, ENAMETOOLONG, "a path longer than %d bytes",
					    PATH_MAX - 1);
			if (len)
				out[len++] = '/';
			memcpy(out + len, name, n);
			out[len += n] = '\0';
		}
		name = *end ? end + 1 : end;
	}
	return 0;
}

/* An O_PATH descriptor of directory `dir` (relative, normalized) of the
 * layer, made (mode 0755) where missing when `make`; never through a
 * symlink. The caller must not close it. The one cached is always the
 * parent of the entry being made, so replacing an entry never removes it. */
static int open_dir(struct unpack *u, const char *dir, bool make)
{
	if (u->parent_fd >= 0 && strcmp(dir, u->parent) == 0)
		return u->parent_fd;
	if (u->parent_fd >= 0)
		close(u->parent_fd);
	u->parent_fd = -1;
	int fd = openat(u->root, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	char copy[PATH_MAX];
	strcpy(copy, dir);
	char *save = NULL;
	for (char *c = strtok_r(copy, "/", &save); fd >= 0 && c; c = strtok_r(NULL, "/", &save)) {
		int next = openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && make) {
			if (mkdirat(fd, c, 0755) < 0 && errno != EEXIST) {
				int e = errno;
				close(fd);
				return fail(u, e, "making its directory %s: %s", c, strerror(e));
			}
			next = openat(fd, c, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		int e = errno;
		close(fd);
		fd = next;
		if (fd < 0 && e == ENOENT)
			return fail(u, EINVAL, "its directory %s is not an earlier entry of this layer",
				    c);
		if (fd < 0)
			return e == ELOOP || e == ENOTDIR
				       ? fail(u, EINVAL, "its parent %s is a symlink or not a "
					      "directory", c)
				       : fail(u, e, "its parent %s: %s", c, strerror(e));
	}
	if (fd < 0)
		return fail(u, errno, "the layer directory: %s", strerror(errno));
	strcpy(u->parent, dir);
	u->parent_fd = fd;
	return fd;
}

/* Splits `path` into the parent's descriptor and the last name. */
static int open_parent(struct unpack *u, char *path, bool make, const char **base)
{
	char *slash = strrchr(path, '/');
	if (!slash) {
		*base = path;
		return open_dir(u, "", make);
	}
	*slash = '\0';
	int fd = open_dir(u, path, make);
	*slash = '/';
	*base = slash + 1;
	return fd;
}

/* Makes room for a new entry `base` in `dirfd`: a later entry replaces an
 * earlier one, as with tar; a directory stays for a directory (1). */
static int clear_slot(struct unpack *u, int dirfd, const char *base, bool is_dir)
{
	struct stat st;
	if (fstatat(dirfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : fail(u, errno, "%s", strerror(errno));
	if (S_ISDIR(st.st_mode) && is_dir)
		return 1;
	if (unlinkat(dirfd, base, S_ISDIR(st.st_mode) ? AT_REMOVEDIR : 0) < 0)
		return fail(u, errno, "replacing an earlier entry: %s", strerror(errno));
	return 0;
}

/* The host object `fd` (a regular file or directory, just made) shows the
 * guest `guest`: harmless host permissions, and the record when the host's
 * owner, mode or type say something else. */
static int set_view(struct unpack *u, int fd, mode_t host_type, const struct stat *guest)
{
	mode_t perm = fs_host_mode(host_type, guest->st_mode);
	if (fchmod(fd, perm) < 0)
		return fail(u, errno, "chmod: %s", strerror(errno));
	if (guest->st_uid == u->host_uid && guest->st_gid == u->host_gid &&
	    (guest->st_mode & 07777) == perm && (guest->st_mode & S_IFMT) == host_type)
		return 0;
	char rec[64];
	int len = fs_record_format(rec, sizeof(rec), guest);
	if (len < 0 || (size_t)len >= sizeof(rec) || fsetxattr(fd, FS_RECORD_XATTR, rec, (size_t)len, 0) < 0)
		return fail(u, errno ? errno : EINVAL, "recording its owner and mode: %s",
			    strerror(errno ? errno : EINVAL));
	return 0;
}

/* `n` more bytes of the layer's files against its limit. */
static int count_bytes(struct unpack *u, uint64_t n)
{
	if (n > u->limits->max_bytes - u->bytes)
		return fail(u, EFBIG, "more than the layer's limit of %llu bytes of files",
			    (unsigned long long)u->limits->max_bytes);
	u->bytes += n;
	return 0;
}

/* The entry's extended attributes (pax SCHILY.xattr) as the file server
 * shows them to the guest: user.* as they are, security.* (a file
 * capability, say) and trusted.* renamed. The server's own records,
 * overlay's (whiteouts and opaque directories say those) and other
 * namespaces are not a layer's to set: left out. */
static int set_xattrs(struct unpack *u, int fd, struct archive_entry *e)
{
	const char *name;
	const void *value;
	size_t size;
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		char host[XATTR_NAME_MAX + 1];
		if (!name || !strncmp(name, OVERLAY_XATTRS, strlen(OVERLAY_XATTRS)) ||
		    fs_xattr_host_name(name, true, host) < 0)
			continue;
		/* Values count as file data: compressed zeros are no way
		 * round the layer's limit. */
		int r = count_bytes(u, size);
		if (r < 0)
			return r;
		if (fsetxattr(fd, host, value, size, 0) < 0)
			return fail(u, errno, "xattr %.100s: %s", name, strerror(errno));
	}
	return 0;
}

static int write_data(struct unpack *u, struct archive *a, int fd)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int r;
	while ((r = archive_read_data_block(a, &buf, &len, &off)) == ARCHIVE_OK) {
		int q = count_bytes(u, len);
		if (q < 0)
			return q;
		for (size_t done = 0; done < len;) {
			ssize_t n = pwrite(fd, (const char *)buf + done, len - done, off + (off_t)done);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				return fail(u, n ? errno : EIO, "write: %s", strerror(n ? errno : EIO));
			done += (size_t)n;
		}
	}
	if (r != ARCHIVE_EOF)
		return fail(u, EINVAL, "%s", archive_error_string(a));
	return 0;
}

static int make_file(struct unpack *u, struct archive *a, struct archive_entry *e, int dirfd,
		     const char *base, const struct stat *guest)
{
	if (archive_entry_size_is_set(e) &&
	    (uint64_t)archive_entry_size(e) > u->limits->max_bytes - u->bytes)
		return fail(u, EFBIG, "declares %lld bytes, more than the layer's limit of %llu",
			    (long long)archive_entry_size(e), (unsigned long long)u->limits->max_bytes);
	int fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(u, errno, "create: %s", strerror(errno));
	int r = write_data(u, a, fd);
	/* A sparse file's last hole. */
	if (r == 0 && archive_entry_size_is_set(e) && ftruncate(fd, archive_entry_size(e)) < 0)
		r = fail(u, errno, "truncate: %s", strerror(errno));
	if (r == 0)
		r = set_view(u, fd, S_IFREG, guest);
	if (r == 0)
		r = set_xattrs(u, fd, e);
	if (r == 0) {
		const struct timespec times[2] = {{.tv_nsec = UTIME_OMIT},
						  {archive_entry_mtime(e), archive_entry_mtime_nsec(e)}};
		futimens(fd, times);
	}
	close(fd);
	return r;
}

static int make_dir(struct unpack *u, struct archive_entry *e, int dirfd, const char *base,
		    const struct stat *guest)
{
	if (*base && mkdirat(dirfd, base, 0700) < 0 && errno != EEXIST)
		return fail(u, errno, "mkdir: %s", strerror(errno));
	int fd = openat(dirfd, *base ? base : ".", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return fail(u, errno, "open: %s", strerror(errno));
	int r = set_view(u, fd, S_IFDIR, guest);
	if (r == 0)
		r = set_xattrs(u, fd, e);
	close(fd);
	return r;
}

/* A FIFO, socket or device: a plain empty file the record makes one. */
static int make_special(struct unpack *u, int dirfd, const char *base, const struct stat *guest)
{
	int fd = openat(dirfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return fail(u, errno, "create: %s", strerror(errno));
	int r = set_view(u, fd, S_IFREG, guest);
	close(fd);
	return r;
}

static int make_whiteout(struct unpack *u, int dirfd, const char *base)
{
	const char *hidden = base + strlen(WHITEOUT_PREFIX);
	if (strcmp(base, WHITEOUT_OPAQUE) == 0) {
		int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		int r = fd < 0 || fsetxattr(fd, OPAQUE_XATTR, "y", 1, 0) < 0 ? -errno : 0;
		if (fd >= 0)
			close(fd);
		return r < 0 ? fail(u, -r, "marking its directory opaque: %s", strerror(-r)) : 0;
	}
	if (!*hidden || !strcmp(hidden, ".") || !strcmp(hidden, ".."))
		return fail(u, EINVAL, "a whiteout of nothing");
	int r = clear_slot(u, dirfd, hidden, false);
	if (r < 0)
		return r;
	if (mknodat(dirfd, hidden, S_IFCHR, makedev(0, 0)) == 0)
		return 0;
	if (errno != EPERM)
		return fail(u, errno, "mknod: %s", strerror(errno));
	struct stat guest = {.st_uid = u->host_uid, .st_gid = u->host_gid, .st_mode = S_IFCHR};
	return make_special(u, dirfd, hidden, &guest);
}

static int make_hardlink(struct unpack *u, int dirfd, const char *base, const char *target)
{
	char path[PATH_MAX];
	int r = normalize(u, target, path);
	if (r < 0)
		return r;
	if (!*path)
		return fail(u, EINVAL, "a hard link to the layer's root");
	/* Resolving the target replaces the cached parent. */
	int own = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
	if (own < 0)
		return fail(u, errno, "%s", strerror(errno));
	const char *tbase;
	int tdir = open_parent(u, path, false, &tbase);
	r = tdir < 0 ? tdir : linkat(tdir, tbase, own, base, 0) < 0 ? -errno : 0;
	close(own);
	if (tdir < 0)
		return r;
	if (r == -ENOENT)
		return fail(u, EINVAL, "a hard link to \"%.200s\", which is not an earlier entry of "
			    "this layer", target);
	return r < 0 ? fail(u, -r, "hard link to \"%.200s\": %s", target, strerror(-r)) : 0;
}

/* Names are bytes to the host: the archive's own (pax: UTF-8), whatever
 * the process's locale can represent. */
static const char *name_of(const char *utf8, const char *local)
{
	return utf8 ? utf8 : local ? local : "";
}

static int unpack_entry(struct unpack *u, struct archive *a, struct archive_entry *e)
{
	char path[PATH_MAX];
	u->entry = name_of(archive_entry_pathname_utf8(e), archive_entry_pathname(e));
	if (++u->entries > u->limits->max_entries)
		return fail(u, EFBIG, "more than the layer's limit of %llu entries",
			    (unsigned long long)u->limits->max_entries);
	int r = normalize(u, u->entry, path);
	if (r < 0)
		return r;
	mode_t type = archive_entry_filetype(e);
	struct stat guest = {
		.st_uid = (uid_t)archive_entry_uid(e),
		.st_gid = (gid_t)archive_entry_gid(e),
		.st_mode = type | (archive_entry_perm(e) & 07777),
		.st_rdev = archive_entry_rdev(e),
	};
	if (archive_entry_uid(e) < 0 || archive_entry_uid(e) >= UINT32_MAX ||
	    archive_entry_gid(e) < 0 || archive_entry_gid(e) >= UINT32_MAX)
		return fail(u, EINVAL, "owner out of range");
	if (!*path) /* the layer's root: its mode and owner only */
		return type == AE_IFDIR ? make_dir(u, e, u->root, "", &guest) : 0;
	const char *hardlink = archive_entry_hardlink(e)
				       ? name_of(archive_entry_hardlink_utf8(e), archive_entry_hardlink(e))
				       : NULL;
	const char *base;
	int dirfd = open_parent(u, path, true, &base);
	if (dirfd < 0)
		return dirfd;
	if (!strncmp(base, WHITEOUT_PREFIX, strlen(WHITEOUT_PREFIX)))
		return make_whiteout(u, dirfd, base);
	r = clear_slot(u, dirfd, base, !hardlink && type == AE_IFDIR);
	if (r < 0)
		return r;
	if (hardlink)
		return make_hardlink(u, dirfd, base, hardlink);
	switch (type) {
	case AE_IFREG:
		return make_file(u, a, e, dirfd, base, &guest);
	case AE_IFDIR:
		return make_dir(u, e, dirfd, base, &guest);
	case AE_IFLNK: {
		const char *target = name_of(archive_entry_symlink_utf8(e), archive_entry_symlink(e));
		if (!target || !*target || strlen(target) >= PATH_MAX)
			return fail(u, EINVAL, "a symlink without a target, or a too long one");
		/* Followed only in the guest, inside its root. */
		return symlinkat(target, dirfd, base) < 0 ? fail(u, errno, "symlink: %s",
								  strerror(errno))
							  : 0;
	}
	case AE_IFCHR:
	case AE_IFBLK:
	case AE_IFIFO:
	case AE_IFSOCK:
		return make_special(u, dirfd, base, &guest);
	default:
		return fail(u, EINVAL, "unknown file type %o", (unsigned)type);
	}
}

int layer_unpack(int fd, const char *digest, int64_t size, const char *dest,
		 const struct layer_limits *limits, const struct layer_unpack_progress *progress,
		 const char *name, uint64_t *bytes, nook_error **err)
{
	struct unpack u = {
		.layer = name,
		.limits = limits,
		.host_uid = geteuid(),
		.host_gid = getegid(),
		.parent_fd = -1,
		.err = err,
	};
	struct hashed_input *in = malloc(sizeof(*in));
	struct archive *a = archive_read_new();
	if (!in || !a || sha256_init(&in->hash) < 0) {
		free(in);
		archive_read_free(a);
		return error_set(err, ENOMEM, "layer %s: out of memory", name);
	}
	in->fd = fd;
	in->bytes = 0;
	in->progress = progress;
	int r = 0;
	if ((u.root = open(dest, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		r = fail(&u, errno, "%s: %s", dest, strerror(errno));
	archive_read_support_filter_gzip(a);
	archive_read_support_filter_zstd(a);
	archive_read_support_format_tar(a);
	if (r == 0 && archive_read_open(a, in, NULL, read_hashed, NULL) != ARCHIVE_OK)
		r = fail(&u, EINVAL, "not a tar archive (plain, gzip or zstd): %s",
			 archive_error_string(a));
	struct archive_entry *e;
	int h = ARCHIVE_OK;
	/* A warning is a name the locale cannot show (name_of() does not
	 * need it to). */
	while (r == 0 && ((h = archive_read_next_header(a, &e)) == ARCHIVE_OK || h == ARCHIVE_WARN))
		r = unpack_entry(&u, a, e);
	u.entry = NULL;
	if (r == 0 && h != ARCHIVE_EOF)
		r = fail(&u, EINVAL, "%s", archive_error_string(a));
	/* What follows the archive counts in the digest too. */
	la_ssize_t n = 1;
	const void *buf;
	while (r == 0 && n > 0)
		if ((n = read_hashed(a, in, &buf)) < 0)
			r = fail(&u, errno, "read: %s", strerror(errno));
	uint8_t sum[SHA256_SIZE];
	sha256_final(&in->hash, sum);
	char got[IMAGE_DIGEST_LEN + 1] = "sha256:";
	hex_encode(sum, SHA256_SIZE, got + 7);
	if (r == 0 && strcmp(got, digest) != 0)
		r = fail(&u, EINVAL, "digest mismatch: got %s", got);
	if (r == 0 && size >= 0 && in->bytes != (uint64_t)size)
		r = fail(&u, EINVAL, "%llu bytes where its descriptor says %lld",
			 (unsigned long long)in->bytes, (long long)size);
	archive_read_free(a);
	free(in);
	if (u.parent_fd >= 0)
		close(u.parent_fd);
	if (u.root >= 0)
		close(u.root);
	*bytes = u.bytes;
	return r;
}
