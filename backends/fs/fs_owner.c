/* Ownership: what the guest sees of a host object (its "view": owner,
 * group, mode with the s-bits, type, device number), how the guest's
 * changes to it are kept without reaching the host, and which xattr names
 * the guest may use. The model is in fs_server.h.
 *
 * The view is the host's stat, except where the host object, a regular
 * file or a directory (only those can hold user.* xattrs), carries the
 * record FS_RECORD_XATTR = "UID:GID:MODE[:TYPE]" (containers/storage's format;
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
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "backends/fs/fs_internal.h"

/* Where guest security.* and trusted.* attributes live on the host. */
#define FS_REMAP_PREFIX "user.nook."
#define FS_REMAP_CAP FS_REMAP_PREFIX "security.capability"
/* getxattrat(2) (Linux 6.13), numbered alike on every architecture but
 * alpha; older headers lack it. */
#ifndef SYS_getxattrat
#define SYS_getxattrat 464
#endif
struct fs_xattr_args {
	uint64_t value;
	uint32_t size;
	uint32_t flags;
};

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

int fs_record_format(char *buf, size_t size, const struct stat *guest)
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

static void apply_view(struct stat *st, const struct fs_view *v)
{
	st->st_uid = v->uid;
	st->st_gid = v->gid;
	st->st_mode = v->mode;
	st->st_rdev = v->rdev;
}

/* Brings nd's cached record up to date with its host stat st: the record
 * is read again only when the host ctime moved (any change to an xattr or
 * mode moves it). Called with nd->view_lock held. */
static void view_load_locked(struct fs_node *nd, const struct stat *st)
{
	if (nd->view_known && nd->view_ctime.tv_sec == st->st_ctim.tv_sec &&
	    nd->view_ctime.tv_nsec == st->st_ctim.tv_nsec)
		return;
	char p[32], buf[64];
	fs_proc_path(p, nd->fd);
	ssize_t n = getxattr(p, FS_RECORD_XATTR, buf, sizeof(buf) - 1);
	nd->view_known = true;
	nd->view_ctime = st->st_ctim;
	nd->view_recorded = n >= 0 || errno == ERANGE;
	nd->view_valid = false;
	struct stat guest = *st;
	if (n > 0) {
		buf[n] = 0;
		nd->view_valid = parse_record(buf, st->st_mode & S_IFMT, &guest);
	}
	nd->view = (struct fs_view){guest.st_uid, guest.st_gid, guest.st_mode, guest.st_rdev};
}

/* Turns the host's stat of a node into what the guest sees. */
void fs_node_guest_stat(struct fs_node *nd, struct stat *st)
{
	if (nd->fd < 0 || !holds_record(st->st_mode))
		return;
	pthread_mutex_lock(&nd->view_lock);
	view_load_locked(nd, st);
	if (nd->view_valid)
		apply_view(st, &nd->view);
	pthread_mutex_unlock(&nd->view_lock);
}

/* The d_type the guest sees of directory entry `name` of `dirfd` whose host
 * d_type is DT_REG (a host regular file may be a guest FIFO, socket or
 * device). Only a hint to the client (its stat is the node's own), so the
 * name is good enough to find the record by. */
unsigned fs_guest_dtype(int dirfd, const char *name)
{
	char buf[64];
	struct fs_xattr_args args = {.value = (uintptr_t)buf, .size = sizeof(buf) - 1};
	ssize_t n = syscall(SYS_getxattrat, dirfd, name, AT_SYMLINK_NOFOLLOW, FS_RECORD_XATTR, &args,
			    sizeof(args));
	if (n < 0 && errno == ENOSYS) {
		char path[32 + NAME_MAX + 1];
		snprintf(path, sizeof(path), "/proc/self/fd/%d/%s", dirfd, name);
		n = lgetxattr(path, FS_RECORD_XATTR, buf, sizeof(buf) - 1);
	}
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

/* Writes or removes the record so that the guest sees `want` of nd, whose
 * host stat (after any chmod) is st; *changed when it did. Called with
 * nd->view_lock held. */
static int record_set_locked(struct fs_node *nd, const char *path, const struct stat *st,
			     const struct stat *want, bool *changed)
{
	bool plain = same_view(st, want);
	if (plain && !nd->view_recorded)
		return 0;
	*changed = true;
	if (plain)
		return removexattr(path, FS_RECORD_XATTR) < 0 && errno != ENODATA ? -errno : 0;
	char buf[64];
	int len = fs_record_format(buf, sizeof(buf), want);
	return setxattr(path, FS_RECORD_XATTR, buf, (size_t)len, 0) < 0 ? -errno : 0;
}

/* Makes the guest see `want` (uid, gid, mode, rdev) of nd, whose host stat
 * is *st (fresh: nd was just made and has no record): the host object
 * keeps its owner and gets harmless permission bits, the record keeps the
 * rest (and goes when nothing differs). On success *st is what the guest
 * sees. Host objects that cannot hold a record (symlinks, and FIFOs,
 * sockets and device nodes the host made) keep their owner and s-bits
 * whatever the guest asks, as with fuse-overlayfs. */
int fs_node_set_view(struct fs_node *nd, struct stat *st, const struct stat *want, bool fresh)
{
	mode_t type = st->st_mode & S_IFMT;
	mode_t perm = fs_host_mode(type, want->st_mode);
	char p[32];
	fs_proc_path(p, nd->fd);
	pthread_mutex_lock(&nd->view_lock);
	if (fresh) {
		nd->view_known = true;
		nd->view_ctime = st->st_ctim;
		nd->view_recorded = nd->view_valid = false;
	}
	int e = 0;
	bool changed = false;
	if (holds_record(st->st_mode))
		view_load_locked(nd, st);
	if (type != S_IFLNK && (st->st_mode & 07777) != perm) {
		changed = true;
		if (chmod(p, perm) < 0)
			e = -errno;
		else
			st->st_mode = type | perm;
	}
	if (e == 0 && holds_record(st->st_mode) &&
	    (e = record_set_locked(nd, p, st, want, &changed)) == 0) {
		nd->view_recorded = !same_view(st, want);
		nd->view_valid = true;
		nd->view = (struct fs_view){want->st_uid, want->st_gid, want->st_mode, want->st_rdev};
		apply_view(st, &nd->view);
		/* The cache holds as of the ctime the changes left. */
		struct stat now = *st;
		nd->view_known = !changed || fs_fd_stat(nd->fd, &now) == 0;
		nd->view_ctime = now.st_ctim;
	} else {
		nd->view_known = false;
	}
	pthread_mutex_unlock(&nd->view_lock);
	return e;
}

int fs_node_stat_views(struct fs_node *nd, struct stat *host, struct stat *guest)
{
	int e = fs_fd_stat(nd->fd, host);
	if (e == 0) {
		*guest = *host;
		fs_node_guest_stat(nd, guest);
	}
	return e;
}

/* Before the guest changes a file's data: a file the host made setuid or
 * setgid must not stay so on the host with the guest's content, so its
 * s-bits move into the guest's view (whether the guest's writer keeps them
 * is the client's to say, with KILL_SUIDGID). The server never gives a host
 * file s-bits, so this is checked once per node. */
int fs_node_disarm(struct fs_node *nd)
{
	if (atomic_load(&nd->host_plain))
		return 0;
	struct stat host, guest;
	int e = fs_node_stat_views(nd, &host, &guest);
	if (e == 0 && (host.st_mode & (S_ISUID | S_ISGID)))
		e = fs_node_set_view(nd, &host, &guest, false);
	if (e == 0)
		atomic_store(&nd->host_plain, true);
	return e;
}

/* HANDLE_KILLPRIV_V2: a write, truncate, O_TRUNC open or chown the client
 * flags drops setuid, setgid when group-executable (as the kernel's
 * should_remove_suid()) and the capability. */
int fs_node_kill_privs(struct fs_node *nd)
{
	if (atomic_load(&nd->nosec) || nd->fd < 0)
		return 0;
	struct stat host, guest;
	int e = fs_node_stat_views(nd, &host, &guest);
	if (e < 0)
		return e;
	mode_t kill = guest.st_mode & S_ISUID;
	if ((guest.st_mode & (S_ISGID | S_IXGRP)) == (S_ISGID | S_IXGRP))
		kill |= S_ISGID;
	if (kill) {
		guest.st_mode &= ~kill;
		e = fs_node_set_view(nd, &host, &guest, false);
	}
	char p[32];
	fs_proc_path(p, nd->fd);
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
		if (!strcmp(name, FS_RECORD_XATTR) || has_prefix(name, FS_REMAP_PREFIX))
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
		} else if (!has_prefix(name, "user.") || !strcmp(name, FS_RECORD_XATTR)) {
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
