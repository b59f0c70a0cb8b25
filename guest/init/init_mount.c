#include "guest/init/init_mount.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "guest/protocol.h"

#define NEW_ROOT INIT_NEW_ROOT
#define STAGING "/nook/mnt"

__attribute__((format(printf, 4, 5)))
static int fail(int errnum, char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	if (n >= 0 && (size_t)n < errlen)
		snprintf(err + n, errlen - (size_t)n, ": %s", strerror(errnum));
	return -errnum;
}

/* mkdir -p; the last component too unless `parent_only`. */
static int make_dirs(const char *path, int parent_only)
{
	char buf[4096];
	size_t len = strlen(path);

	if (len >= sizeof(buf))
		return -ENAMETOOLONG;
	memcpy(buf, path, len + 1);
	for (char *p = buf + 1;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		char c = *p;
		if (c == '\0' && parent_only)
			break;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = c;
		if (c == '\0')
			break;
	}
	return 0;
}

/* dax: the device has a DAX window; file data are then mapped from the
 * host's page cache instead of copied. Errors name `shown`: the path the
 * user gave, not where beneath the new root it lies. */
static int mount_virtiofs(const char *tag, const char *dir, const char *shown,
			  unsigned long flags, bool dax, char *err, size_t errlen)
{
	int r = make_dirs(dir, 0);
	if (r < 0)
		return fail(-r, err, errlen, "mkdir %s", shown);
	if (mount(tag, dir, "virtiofs", flags, dax ? "dax=always" : NULL) < 0)
		return fail(errno, err, errlen, "mount virtio-fs \"%s\" on %s%s", tag, shown,
			    dax ? " (dax=always)" : "");
	return 0;
}

/* Overlay of the lower layers (directories of one share) under the upper
 * share's "upper" directory, or under a tmpfs when there is no upper
 * share. */
static int mount_overlay_root(const struct init_config *cfg, char *err, size_t errlen)
{
	char lowerdir[3072] = "";
	size_t pos = 0;
	int r = mount_virtiofs(cfg->root_lowers_tag, "/nook/lowers", "/nook/lowers", MS_RDONLY,
			       false, err, errlen);

	if (r < 0)
		return r;
	/* lowerdir lists the top layer first. */
	for (size_t i = cfg->nroot_lowers; i-- > 0;) {
		int n = snprintf(lowerdir + pos, sizeof(lowerdir) - pos, "%s/nook/lowers/%s",
				 pos ? ":" : "", cfg->root_lowers[i]);
		if (n < 0 || (size_t)n >= sizeof(lowerdir) - pos)
			return fail(E2BIG, err, errlen, "overlay of %zu layers", cfg->nroot_lowers);
		pos += (size_t)n;
	}
	const char *extra = "";
	if (cfg->root_upper) {
		r = mount_virtiofs(cfg->root_upper, "/nook/upper", "/nook/upper", 0, false, err,
				   errlen);
		if (r < 0)
			return r;
		/* The host may not let nook set trusted.* xattrs. */
		extra = ",userxattr";
	} else {
		r = make_dirs("/nook/upper", 0);
		if (r < 0)
			return fail(-r, err, errlen, "mkdir /nook/upper");
		if (mount("tmpfs", "/nook/upper", "tmpfs", 0, "mode=0755") < 0)
			return fail(errno, err, errlen, "mount tmpfs on /nook/upper");
		if ((mkdir("/nook/upper/" NOOK_OVERLAY_UPPER_DIR, 0755) < 0 && errno != EEXIST) ||
		    (mkdir("/nook/upper/" NOOK_OVERLAY_WORK_DIR, 0755) < 0 && errno != EEXIST))
			return fail(errno, err, errlen, "mkdir in /nook/upper");
	}
	char options[4096];
	int n = snprintf(options, sizeof(options),
			 "lowerdir=%s,upperdir=/nook/upper/" NOOK_OVERLAY_UPPER_DIR
			 ",workdir=/nook/upper/" NOOK_OVERLAY_WORK_DIR "%s",
			 lowerdir, extra);
	if (n < 0 || (size_t)n >= sizeof(options))
		return fail(E2BIG, err, errlen, "overlay options");
	r = make_dirs(NEW_ROOT, 0);
	if (r < 0)
		return fail(-r, err, errlen, "mkdir " NEW_ROOT);
	if (mount("overlay", NEW_ROOT, "overlay", 0, options) < 0)
		return fail(errno, err, errlen, "mount overlay root (%s)", options);
	return 0;
}

static int mount_share(const struct init_mount *m, size_t index, const char *root, char *err,
		       size_t errlen)
{
	char target[4096];
	unsigned long flags = (m->flags & NOOK_MOUNT_READ_ONLY) ? MS_RDONLY : 0;
	bool dax = m->flags & NOOK_MOUNT_DAX;

	if (snprintf(target, sizeof(target), "%s%s", root, m->path) >= (int)sizeof(target))
		return fail(ENAMETOOLONG, err, errlen, "mount point %s", m->path);
	if (!(m->flags & NOOK_MOUNT_FILE))
		return mount_virtiofs(m->tag, target, m->path, flags, dax, err, errlen);

	/* A single file: its share holds just that file; bind it. */
	char staging[64], source[96];
	snprintf(staging, sizeof(staging), STAGING "%zu", index);
	snprintf(source, sizeof(source), "%s/" NOOK_MOUNT_FILE_ENTRY, staging);
	int r = mount_virtiofs(m->tag, staging, m->path, flags, dax, err, errlen);
	if (r < 0)
		return r;
	r = make_dirs(target, 1);
	if (r < 0)
		return fail(-r, err, errlen, "mkdir for %s", m->path);
	int fd = open(target, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 && errno != EISDIR)
		return fail(errno, err, errlen, "mount point %s", m->path);
	if (fd >= 0)
		close(fd);
	if (mount(source, target, NULL, MS_BIND, NULL) < 0)
		return fail(errno, err, errlen, "bind %s on %s", m->tag, m->path);
	/* A read-only bind needs a remount (the host refuses writes anyway). */
	if (flags && mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) < 0)
		return fail(errno, err, errlen, "read-only %s", m->path);
	umount2(staging, MNT_DETACH);
	return 0;
}

int init_mount_root(const struct init_config *cfg, char *err, size_t errlen)
{
	int r = 0;

	if (cfg->root)
		r = mount_virtiofs(cfg->root, NEW_ROOT, "/", 0, false, err, errlen);
	else if (cfg->nroot_lowers)
		r = mount_overlay_root(cfg, err, errlen);
	else
		return 0;
	return r < 0 ? r : 1;
}

int init_mount_shares(const struct init_config *cfg, char *err, size_t errlen)
{
	int r = 0;
	const char *root = cfg->root || cfg->nroot_lowers ? NEW_ROOT : "";

	for (size_t i = 0; r == 0 && i < cfg->nmounts; i++)
		r = mount_share(&cfg->mounts[i], i, root, err, errlen);
	if (r < 0 || !root[0])
		return r;

	/* switch_root: the new root, with its submounts, over the initramfs. */
	if (chdir(NEW_ROOT) < 0 || mount(".", "/", NULL, MS_MOVE, NULL) < 0 || chroot(".") < 0 ||
	    chdir("/") < 0)
		return fail(errno, err, errlen, "switching to the new root");
	return 0;
}
