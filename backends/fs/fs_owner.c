/* The identity that touches host files: when the server runs as root, each
 * request runs with the caller's uid/gid as the thread's fsuid/fsgid (and
 * no supplementary groups). */
#include <errno.h>
#include <sched.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "backends/fs/fs_internal.h"

static _Thread_local bool thread_fs_unshared;

/* The caller's uid/gid as this thread's fs credentials (raw syscalls:
 * glibc's setgroups would apply to every thread of the process). */
int fs_creds_enter(struct fs_server *s, const struct fuse_in_header *h, struct fs_creds *c)
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

void fs_creds_leave(struct fs_creds *c)
{
	if (!c->switched)
		return;
	setfsuid(0);
	setfsgid(0);
	syscall(SYS_setgroups, c->ngroups, c->groups);
}
