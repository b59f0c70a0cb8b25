/* Landlock for a process that is not jailed (nook/confine.h): file access
 * only to the plan's paths, and TCP only where the VM needs it. */
#include <errno.h>
#include <fcntl.h>
#include <linux/landlock.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "confine/confine.h"
#include "util/error.h"

/* The rights of later ABIs than the installed kernel headers know. */
#define RIGHT_TRUNCATE (1ULL << 14)  /* ABI 3 */
#define RIGHT_IOCTL_DEV (1ULL << 15) /* ABI 5 */
#define NET_BIND_TCP (1ULL << 0)     /* ABI 4 */
#define NET_CONNECT_TCP (1ULL << 1)
#define RULE_NET_PORT 2
#define SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0) /* ABI 6 */
#define SCOPE_SIGNAL (1ULL << 1)

struct ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net; /* ABI 4 */
	uint64_t scoped;             /* ABI 6 */
};

struct net_port_attr {
	uint64_t allowed_access;
	uint64_t port;
};

/* ABI 1: execute, write, read, read dir, remove dir/file, make char, dir,
 * reg, sock, fifo, block, sym. */
#define RIGHTS_V1 ((1ULL << 13) - 1)
#define RIGHTS_FILE (LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_WRITE_FILE | \
		     LANDLOCK_ACCESS_FS_READ_FILE | RIGHT_TRUNCATE | RIGHT_IOCTL_DEV)

static uint64_t handled_fs(int abi)
{
	uint64_t r = RIGHTS_V1;
	if (abi >= 2)
		r |= LANDLOCK_ACCESS_FS_REFER;
	if (abi >= 3)
		r |= RIGHT_TRUNCATE;
	if (abi >= 5)
		r |= RIGHT_IOCTL_DEV;
	return r;
}

/* What the VM may do beneath a path. A writable directory gets everything
 * but executing and making block devices (the FUSE server makes no device
 * nodes but overlayfs whiteouts, character devices 0/0). */
static uint64_t rights_for(enum plan_access access, bool dir)
{
	uint64_t read = LANDLOCK_ACCESS_FS_READ_FILE | (dir ? LANDLOCK_ACCESS_FS_READ_DIR : 0);
	switch (access) {
	case PLAN_READ:
		return read;
	case PLAN_DEVICE:
		return read | LANDLOCK_ACCESS_FS_WRITE_FILE | RIGHT_IOCTL_DEV;
	case PLAN_WRITE:
		break;
	}
	if (!dir)
		return read | LANDLOCK_ACCESS_FS_WRITE_FILE | RIGHT_TRUNCATE;
	return ((RIGHTS_V1 | LANDLOCK_ACCESS_FS_REFER | RIGHT_TRUNCATE) &
		~(LANDLOCK_ACCESS_FS_EXECUTE | LANDLOCK_ACCESS_FS_MAKE_BLOCK));
}

static int add_path(int ruleset, const char *path, uint64_t rights, uint64_t handled)
{
	int fd = open(path, O_PATH | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0) {
		if (fd >= 0)
			close(fd);
		return 0; /* missing: the build names it */
	}
	if (!S_ISDIR(st.st_mode))
		rights &= RIGHTS_FILE;
	struct landlock_path_beneath_attr rule = {.allowed_access = rights & handled, .parent_fd = fd};
	int r = syscall(SYS_landlock_add_rule, ruleset, LANDLOCK_RULE_PATH_BENEATH, &rule, 0) < 0
			? -errno
			: 1;
	close(fd);
	return r;
}

int landlock_apply(const struct confine_plan *p, const struct confine_log *log, nook_error **err)
{
	int abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1) {
		confine_log(log, NOOK_LOG_WARN, "no Landlock (%s): file access is not restricted",
			    strerror(errno));
		return 0;
	}
	struct ruleset_attr attr = {.handled_access_fs = handled_fs(abi)};
	size_t size = sizeof(attr.handled_access_fs);
	if (abi >= 4) {
		/* libslirp connects anywhere; binds are the published ports. */
		attr.handled_access_net = NET_BIND_TCP | (p->user_net ? 0 : NET_CONNECT_TCP);
		size = offsetof(struct ruleset_attr, scoped);
	}
	/* No signals to, nor abstract sockets of, processes outside. */
	if (abi >= 6) {
		attr.scoped = SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL;
		size = sizeof(attr);
	}
	int ruleset = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (ruleset < 0)
		return error_set(err, errno, "Landlock ruleset: %s", strerror(errno));
	int r = 0, granted = 0;
	for (size_t i = 0; r >= 0 && i < p->npaths; i++) {
		const struct plan_path *pp = &p->paths[i];
		r = add_path(ruleset, pp->path, rights_for(pp->access, true), attr.handled_access_fs);
		if (r < 0)
			error_set(err, -r, "Landlock rule for %s: %s", pp->path, strerror(-r));
		granted += r > 0;
	}
	/* The process's own /proc entries: the FUSE server reopens its files
	 * through /proc/self/fd, glibc and the sanitizers read maps. */
	if (r >= 0 && (r = add_path(ruleset, "/proc/self",
				    LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR,
				    attr.handled_access_fs)) < 0)
		error_set(err, -r, "Landlock rule for /proc/self: %s", strerror(-r));
	for (size_t i = 0; r >= 0 && attr.handled_access_net && i < p->ntcp_ports; i++) {
		struct net_port_attr port = {.allowed_access = NET_BIND_TCP, .port = p->tcp_ports[i]};
		if (syscall(SYS_landlock_add_rule, ruleset, RULE_NET_PORT, &port, 0) < 0)
			r = error_set(err, errno, "Landlock rule for TCP port %u: %s",
				      p->tcp_ports[i], strerror(errno));
	}
	if (r >= 0 && syscall(SYS_landlock_restrict_self, ruleset, 0) < 0)
		r = error_set(err, errno, "Landlock: %s", strerror(errno));
	close(ruleset);
	if (r < 0)
		return r;
	confine_log(log, NOOK_LOG_INFO, "Landlock ABI %d: file access limited to %d paths", abi,
		    granted);
	return 0;
}
