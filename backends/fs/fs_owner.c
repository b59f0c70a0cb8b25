/* Ownership: what the guest sees of a host object (its "view": owner,
 * group, mode with the s-bits, type, device number), how the guest's
 * changes to it are kept without reaching the host, and which xattr names
 * the guest may use. The model is in fs_server.h.
 *
 * The view is the host's stat, except where the host object, a regular
 * file or a directory (only those can hold user.* xattrs), carries the
 * record FS_RECORD = "UID:GID:MODE[:TYPE]" (containers/storage's format;
 * fuse-overlayfs writes the 3-field form): decimal ids, octal mode (its
 * permission and s-bits count), TYPE one of file, dir, pipe, socket,
 * char-MAJ-MIN, block-MAJ-MIN. A host regular file may carry any of those
 * but dir, a host directory only dir; a record that does not parse or does
 * not fit its host object is ignored.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backends/fs/fs_internal.h"

#define FS_RECORD "user.containers.override_stat"
/* Where guest security.* and trusted.* attributes live on the host. */
#define FS_REMAP_PREFIX "user.nook."
#define FS_REMAP_CAP FS_REMAP_PREFIX "security.capability"
#define FS_S_BITS (S_ISUID | S_ISGID | S_ISVTX)

static _Thread_local bool thread_fs_unshared;

/* The client already applied its umask to every mode it sends: the thread
 * works with none (its own fs attributes, so the process keeps its umask). */
int fs_thread_enter(void)
{
	if (thread_fs_unshared)
		return 0;
	if (unshare(CLONE_FS) < 0)
		return -errno;
	umask(0);
	thread_fs_unshared = true;
	return 0;
}

static bool holds_record(mode_t host_mode)
{
	return S_ISREG(host_mode) || S_ISDIR(host_mode);
}

/* ---- the record ---- */

static bool parse_u32(const char **p, int base, uint32_t max, uint32_t *out)
{
	const char *s = *p;
	uint64_t v = 0;
	if (!(*s >= '0' && *s < '0' + base))
		return false;
	for (; *s >= '0' && *s < '0' + base; s++) {
		v = v * (unsigned)base + (unsigned)(*s - '0');
		if (v > max)
			return false;
	}
	*p = s;
	*out = (uint32_t)v;
	return true;
}

static bool parse_device(const char *s, dev_t *rdev)
{
	uint32_t maj, min;
	/* The client's 32-bit device numbers: 12-bit major, 20-bit minor. */
	if (!parse_u32(&s, 10, 0xfff, &maj) || *s++ != '-' || !parse_u32(&s, 10, 0xfffff, &min) ||
	    *s)
		return false;
	*rdev = makedev(maj, min);
	return true;
}

/* Reads "UID:GID:MODE[:TYPE]" into `guest` (uid, gid, mode, rdev), for a
 * host object of type host_type. */
static bool parse_record(const char *s, mode_t host_type, struct stat *guest)
{
	uint32_t uid, gid, mode;
	/* -1 means "no change" to chown: nobody's id. */
	if (!parse_u32(&s, 10, UINT32_MAX - 1, &uid) || *s++ != ':' ||
	    !parse_u32(&s, 10, UINT32_MAX - 1, &gid) || *s++ != ':' ||
	    !parse_u32(&s, 8, 0177777, &mode))
		return false;
	mode_t type = host_type;
	dev_t rdev = 0;
	if (*s == ':') {
		s++;
		if (!strcmp(s, "dir"))
			type = S_IFDIR;
		else if (!strcmp(s, "file"))
			type = S_IFREG;
		else if (!strcmp(s, "pipe"))
			type = S_IFIFO;
		else if (!strcmp(s, "socket"))
			type = S_IFSOCK;
		else if (!strncmp(s, "char-", 5) && parse_device(s + 5, &rdev))
			type = S_IFCHR;
		else if (!strncmp(s, "block-", 6) && parse_device(s + 6, &rdev))
			type = S_IFBLK;
		else
			return false;
	} else if (*s) {
		return false;
	}
	if ((host_type == S_IFDIR) != (type == S_IFDIR))
		return false;
	guest->st_uid = uid;
	guest->st_gid = gid;
	guest->st_mode = type | (mode & 07777);
	guest->st_rdev = rdev;
	return true;
}

static int format_record(char *buf, size_t size, const struct stat *guest)
{
	char type[32];
	switch (guest->st_mode & S_IFMT) {
	case S_IFDIR: strcpy(type, "dir"); break;
	case S_IFIFO: strcpy(type, "pipe"); break;
	case S_IFSOCK: strcpy(type, "socket"); break;
	case S_IFCHR:
	case S_IFBLK:
		snprintf(type, sizeof(type), "%s-%u-%u", S_ISCHR(guest->st_mode) ? "char" : "block",
			 major(guest->st_rdev), minor(guest->st_rdev));
		break;
	default: strcpy(type, "file"); break;
	}
	return snprintf(buf, size, "%u:%u:%04o:%s", (unsigned)guest->st_uid,
			(unsigned)guest->st_gid, (unsigned)(guest->st_mode & 07777), type);
}

/* ---- views ---- */

void fs_guest_stat(const char *path, struct stat *st)
{
	if (!holds_record(st->st_mode))
		return;
	char buf[64];
	ssize_t n = getxattr(path, FS_RECORD, buf, sizeof(buf) - 1);
	if (n <= 0)
		return;
	buf[n] = 0;
	parse_record(buf, st->st_mode & S_IFMT, st);
}

/* The d_type the guest sees of directory entry `name` of `dirfd` whose host
 * d_type is DT_REG (a host regular file may be a guest FIFO, socket or
 * device). */
unsigned fs_guest_dtype(int dirfd, const char *name)
{
	char path[32 + NAME_MAX + 1], buf[64];
	snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
	ssize_t n = lgetxattr(path, FS_RECORD, buf, sizeof(buf) - 1);
	struct stat st;
	if (n <= 0)
		return DT_REG;
	buf[n] = 0;
	return parse_record(buf, S_IFREG, &st) ? IFTODT(st.st_mode) : DT_REG;
}

/* The view of an object of type|mode (rdev for devices) that the request's
 * caller makes in a directory the guest sees as `parent`: it belongs to the
 * caller, or to the directory's group when that is setgid, which
 * subdirectories inherit. */
int fs_guest_new(const struct fuse_in_header *h, const struct stat *parent, mode_t mode,
		 dev_t rdev, struct stat *guest)
{
	/* As the client's kernel: nobody is -1 (an id it cannot map). */
	if (h->uid == UINT32_MAX || h->gid == UINT32_MAX)
		return -EOVERFLOW;
	guest->st_uid = h->uid;
	guest->st_gid = h->gid;
	guest->st_mode = mode;
	guest->st_rdev = S_ISCHR(mode) || S_ISBLK(mode) ? rdev : 0;
	if (parent->st_mode & S_ISGID) {
		guest->st_gid = parent->st_gid;
		if (S_ISDIR(mode))
			guest->st_mode |= S_ISGID;
	}
	return 0;
}

/* The host mode for an object of host type `type` the guest wants to see
 * with `mode`: its permission bits, never an s-bit, and always what the
 * server needs to read and write it. */
mode_t fs_host_mode(mode_t type, mode_t mode)
{
	return (mode & 0777) | (type == S_IFDIR ? 0700 : type == S_IFREG ? 0600 : 0);
}

static bool same_view(const struct stat *a, const struct stat *b)
{
	bool dev = S_ISCHR(a->st_mode) || S_ISBLK(a->st_mode);
	return a->st_uid == b->st_uid && a->st_gid == b->st_gid && a->st_mode == b->st_mode &&
	       (!dev || a->st_rdev == b->st_rdev);
}

/* Makes the guest see `want` (uid, gid, mode, rdev) of the host object at
 * path, whose host stat is *host (updated): the host object keeps its owner
 * and gets harmless permission bits, the record keeps the rest (and goes
 * when nothing differs). Host objects that cannot hold a record
 * (symlinks, and FIFOs, sockets and device nodes the host made) keep their
 * owner and s-bits whatever the guest asks, as with fuse-overlayfs. */
int fs_guest_set(const char *path, struct stat *host, const struct stat *want)
{
	mode_t type = host->st_mode & S_IFMT;
	mode_t perm = fs_host_mode(type, want->st_mode);
	if (type != S_IFLNK && (host->st_mode & 07777) != perm) {
		if (chmod(path, perm) < 0)
			return -errno;
		host->st_mode = type | perm;
	}
	if (!holds_record(host->st_mode))
		return 0;
	if (same_view(host, want))
		return removexattr(path, FS_RECORD) < 0 && errno != ENODATA ? -errno : 0;
	char buf[64];
	int len = format_record(buf, sizeof(buf), want);
	return setxattr(path, FS_RECORD, buf, (size_t)len, 0) < 0 ? -errno : 0;
}

/* A host node's path for calls that take one, its host stat and the
 * guest's. */
int fs_node_views(const struct fs_node *nd, char path[32], struct stat *host, struct stat *guest)
{
	fs_proc_path(path, nd->fd);
	int e = fs_fd_stat(nd->fd, host);
	*guest = *host;
	if (e == 0)
		fs_guest_stat(path, guest);
	return e;
}

/* HANDLE_KILLPRIV_V2: a write, truncate, O_TRUNC open or chown the client
 * flags drops setuid, setgid when group-executable (as the kernel's
 * should_remove_suid()) and the capability. */
int fs_node_kill_privs(struct fs_node *nd)
{
	if (atomic_load(&nd->nosec) || nd->fd < 0)
		return 0;
	char p[32];
	struct stat host, guest;
	int e = fs_node_views(nd, p, &host, &guest);
	if (e < 0)
		return e;
	mode_t kill = guest.st_mode & S_ISUID;
	if ((guest.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		kill |= S_ISGID;
	if (kill) {
		guest.st_mode &= ~kill;
		e = fs_guest_set(p, &host, &guest);
	}
	if (holds_record(host.st_mode) && removexattr(p, FS_REMAP_CAP) < 0 && errno != ENODATA &&
	    !e)
		e = -errno;
	if (!e)
		atomic_store(&nd->nosec, true);
	return e;
}

/* ---- xattr names ---- */

static bool has_prefix(const char *s, const char *prefix)
{
	return !strncmp(s, prefix, strlen(prefix));
}

/* The host name of the guest's xattr `name`: user.* as it is, security.*
 * and trusted.* under FS_REMAP_PREFIX. The records themselves are not the
 * guest's (ENODATA to read, EPERM to change); other namespaces (system.*)
 * are not served. */
int fs_xattr_host_name(const char *name, bool change, char host[XATTR_NAME_MAX + 1])
{
	if (has_prefix(name, "user.")) {
		if (!strcmp(name, FS_RECORD) || has_prefix(name, FS_REMAP_PREFIX))
			return change ? -EPERM : -ENODATA;
		strcpy(host, name);
		return 0;
	}
	if (!has_prefix(name, "security.") && !has_prefix(name, "trusted."))
		return -EOPNOTSUPP;
	if (strlen(FS_REMAP_PREFIX) + strlen(name) > XATTR_NAME_MAX)
		return -ERANGE;
	strcpy(host, FS_REMAP_PREFIX);
	strcat(host, name);
	return 0;
}

/* Turns a host listxattr() result into the guest's in place: returns its
 * length. */
size_t fs_xattr_guest_list(char *list, size_t len)
{
	size_t out = 0;
	for (size_t i = 0; i < len;) {
		const char *name = list + i;
		size_t n = strnlen(name, len - i);
		if (n == len - i) /* not terminated: not a name */
			break;
		i += n + 1;
		if (has_prefix(name, FS_REMAP_PREFIX)) {
			name += strlen(FS_REMAP_PREFIX);
			if (!has_prefix(name, "security.") && !has_prefix(name, "trusted."))
				continue;
		} else if (!has_prefix(name, "user.") || !strcmp(name, FS_RECORD)) {
			continue;
		}
		n = strlen(name);
		memmove(list + out, name, n);
		list[out + n] = 0;
		out += n + 1;
	}
	return out;
}

/* Whether setting or removing the guest's xattr `name` can change what a
 * write must drop (fs_node_kill_privs). */
bool fs_xattr_is_priv(const char *name)
{
	return has_prefix(name, "security.");
}
