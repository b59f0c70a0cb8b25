/* The jail of a process started as root (nook/confine.h): new namespaces,
 * an empty root that holds only the plan's paths, an unprivileged
 * identity, few capabilities, limits. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/capability.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nook/confine.h>

#include "confine/confine.h"
#include "util/error.h"

/* What the jailed process may still do as its unprivileged identity, and
 * why. Held while it builds the VM; nook_confine_seal() drops them all,
 * except on the fs worker threads (util/thread.c), which keep the first
 * five for the whole run:
 *   DAC_OVERRIDE, DAC_READ_SEARCH: the files root named (images, shares,
 *     sockets, the console output) keep their owners and modes, which
 *     need not let the jail's identity in; the FUSE server must reach
 *     every file of a share, as it did for root.
 *   FOWNER, CHOWN, FSETID: in a share, the guest's chmod, chown, utimes
 *     and xattrs on files the jail's identity does not own (all of them,
 *     in a share of root's): overlayfs in the guest copies a lower file
 *     up with its owner and mode. The FUSE server keeps device nodes out;
 *     keeping ownership changes away from the host takes it recording
 *     them in an xattr instead (then these three can go).
 *   NET_ADMIN, only with a TAP device: attaching to an existing TAP
 *     interface (TUNSETIFF) that is not owned by the jail's identity.
 *   NET_BIND_SERVICE, only when a published host port is below 1024.
 * SETUID and SETGID are not kept: the FUSE server acts for the guest's
 * users only as root. New files in a share belong to the jail's
 * identity. */
static const cap_value_t build_caps[] = {CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER,
					 CAP_CHOWN, CAP_FSETID};

/* Open files: the FUSE server holds one descriptor per inode the guest
 * knows, so the process gets as many as the system allows a process. */
#define JAIL_NOFILE_MAX (1u << 20)

/* cgroup v2 limits, when delegated: guest memory plus this much for the
 * VMM and the page cache of the files it serves; a few spare pids. */
#define JAIL_MEMORY_OVERHEAD_MIB 512
#define JAIL_SPARE_PIDS 16

/* ---- the root file system ---- */

/* A source, opened before anything is mounted over the host's view. */
struct source {
	const struct plan_path *want;
	int fd; /* O_PATH */
	struct stat st;
};

/* Shorter paths first, so that a directory is bound before what lies in
 * it; equal paths next to each other. */
static int by_path_length(const void *a, const void *b)
{
	const char *pa = ((const struct source *)a)->want->path;
	const char *pb = ((const struct source *)b)->want->path;
	size_t la = strlen(pa), lb = strlen(pb);
	return la != lb ? (la < lb ? -1 : 1) : strcmp(pa, pb);
}

/* Whether `dir` is on the jail's own tmpfs rather than a bound host tree,
 * where nothing may be created. */
static bool on_jail_root(int dir, dev_t root_dev)
{
	struct stat st;
	return fstat(dir, &st) == 0 && st.st_dev == root_dev;
}

/* Opens `path` (absolute) beneath `root` without following symlinks,
 * creating what is missing on the jail's tmpfs: directories on the way,
 * and the last component as an empty directory (`dir`) or file. Returns an
 * O_PATH descriptor or -errno. */
static int make_path(int root, dev_t root_dev, const char *path, bool dir_last)
{
	char *copy = strdup(path);
	if (!copy)
		return -ENOMEM;
	int dir = fcntl(root, F_DUPFD_CLOEXEC, 0);
	char *save = NULL;
	char *name = strtok_r(copy, "/", &save);
	int r = dir < 0 ? -errno : 0;
	while (r == 0 && name) {
		char *next = strtok_r(NULL, "/", &save);
		bool last = !next;
		int fd = openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC | (last ? 0 : O_DIRECTORY));
		if (fd < 0 && errno == ENOENT && on_jail_root(dir, root_dev)) {
			int made = !last || dir_last ? mkdirat(dir, name, 0755)
						     : mknodat(dir, name, S_IFREG | 0600, 0);
			fd = made < 0 ? -1 : openat(dir, name, O_PATH | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0)
			r = -errno;
		close(dir);
		dir = fd;
		name = next;
	}
	free(copy);
	return r < 0 ? r : dir;
}

/* Binds the source at its own path in the jail: never suid or exec,
 * read-only unless written, device nodes only where named. */
static int place(int root, dev_t root_dev, const struct source *s, nook_error **err)
{
	bool dir = S_ISDIR(s->st.st_mode);
	bool device = S_ISCHR(s->st.st_mode) || S_ISBLK(s->st.st_mode);
	uint64_t attr = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC;
	/* Device nodes the configuration names (/dev/kvm, /dev/net/tun,
	 * /dev/urandom, disks on block devices) work on a read-only mount,
	 * which keeps their owner and mode out of reach. */
	if (s->want->access == PLAN_READ || device)
		attr |= MOUNT_ATTR_RDONLY;
	if (!device)
		attr |= MOUNT_ATTR_NODEV;
	int target = make_path(root, root_dev, s->want->path, dir);
	if (target < 0)
		return error_set(err, -target, "jail: cannot make a place for %s: %s",
				 s->want->path, strerror(-target));
	int tree = (int)open_tree(s->fd, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_EMPTY_PATH |
						  (dir ? AT_RECURSIVE : 0));
	struct mount_attr ma = {.attr_set = attr};
	int r = tree < 0 || mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &ma, sizeof(ma)) < 0 ||
			move_mount(tree, "", target, "",
				   MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0
		? -errno
		: 0;
	if (r < 0)
		error_set(err, -r, "jail: cannot bind %s: %s", s->want->path, strerror(-r));
	if (tree >= 0)
		close(tree);
	close(target);
	return r;
}

/* A fresh file system of type `fs` with the given options, detached. */
static int new_mount(const char *fs, const char *const *options, size_t noptions, uint64_t attr)
{
	int fc = fsopen(fs, FSOPEN_CLOEXEC);
	if (fc < 0)
		return -errno;
	/* An option the kernel lacks (proc's subset=pid before 5.8) only
	 * weakens the mount. */
	for (size_t i = 0; i + 1 < noptions; i += 2)
		fsconfig(fc, FSCONFIG_SET_STRING, options[i], options[i + 1], 0);
	int m = fsconfig(fc, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0
			? -1
			: fsmount(fc, FSMOUNT_CLOEXEC, (unsigned)attr);
	int r = m < 0 ? -errno : m;
	close(fc);
	return r;
}

/* Mounts `m` (detached) at `path` beneath root, consuming it. */
static int attach(int root, dev_t root_dev, int m, const char *path)
{
	int target = make_path(root, root_dev, path, true);
	int r = target < 0 ? target
		: move_mount(m, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0
		? -errno
		: 0;
	if (target >= 0)
		close(target);
	close(m);
	return r;
}

/* The jail's root: a tmpfs holding the sources at their paths, the
 * working directory, a fresh /proc and, on PVM hosts, the marker
 * directory nook_vm_build() looks for. Then pivot_root into it. */
static int build_root(const struct confine_plan *p, struct source *src, size_t n,
		      const struct confine_log *log, nook_error **err)
{
	static const char *const root_options[] = {"mode", "0755", "size", "1m"};
	static const char *const proc_options[] = {"subset", "pid"};
	int root = new_mount("tmpfs", root_options, 4,
			     MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (root < 0)
		return error_set(err, -root, "jail: tmpfs: %s", strerror(-root));
	/* Mounted over "/", where it hides nothing the sources need (they are
	 * open) and needs no directory of the host's. */
	struct stat st;
	int r = move_mount(root, "", AT_FDCWD, "/", MOVE_MOUNT_F_EMPTY_PATH) < 0 || fstat(root, &st) < 0
			? error_set(err, errno, "jail: mount the root: %s", strerror(errno))
			: 0;
	qsort(src, n, sizeof(*src), by_path_length);
	for (size_t i = 0; r == 0 && i < n; i++)
		if (src[i].fd >= 0 && (i == 0 || strcmp(src[i].want->path, src[i - 1].want->path)))
			r = place(root, st.st_dev, &src[i], err);
	int m = r < 0 ? 0 : new_mount("proc", proc_options, 2,
				      MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
	if (m < 0 || (r == 0 && (m = attach(root, st.st_dev, m, "/proc")) < 0))
		r = error_set(err, -m, "jail: /proc: %s", strerror(-m));
	struct stat pvm;
	if (r == 0 && stat("/sys/module/kvm_pvm", &pvm) == 0 &&
	    (m = make_path(root, st.st_dev, "/sys/module/kvm_pvm", true)) >= 0)
		close(m);
	bool cwd = false;
	if (r == 0 && (m = make_path(root, st.st_dev, p->cwd, true)) >= 0) {
		close(m);
		cwd = true;
	}
	if (r == 0 && (fchdir(root) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
		       umount2(".", MNT_DETACH) < 0 || chdir("/") < 0))
		r = error_set(err, errno, "jail: pivot_root: %s", strerror(errno));
	struct mount_attr ro = {.attr_set = MOUNT_ATTR_RDONLY};
	if (r == 0 && mount_setattr(AT_FDCWD, "/", 0, &ro, sizeof(ro)) < 0)
		r = error_set(err, errno, "jail: read-only root: %s", strerror(errno));
	if (r == 0 && cwd && chdir(p->cwd) < 0)
		r = error_set(err, errno, "jail: working directory %s: %s", p->cwd, strerror(errno));
	if (r == 0 && !cwd)
		confine_log(log, NOOK_LOG_WARN, "jail: no working directory %s: relative paths fail",
			    p->cwd);
	close(root);
	return r;
}

static int enter_root(const struct confine_plan *p, const struct confine_log *log,
		      nook_error **err)
{
	struct source *src = calloc(p->npaths + 1, sizeof(*src));
	if (!src)
		return error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < p->npaths; i++) {
		src[i].want = &p->paths[i];
		/* Missing sources stay missing: the build names them. */
		src[i].fd = open(p->paths[i].path, O_PATH | O_CLOEXEC);
		if (src[i].fd >= 0 && fstat(src[i].fd, &src[i].st) < 0) {
			close(src[i].fd);
			src[i].fd = -1;
		}
		if (src[i].fd < 0)
			confine_log(log, NOOK_LOG_DEBUG, "jail: %s: %s (not bound)", p->paths[i].path,
				    strerror(errno));
	}
	int r = mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0
			? error_set(err, errno, "jail: private mounts: %s", strerror(errno))
			: build_root(p, src, p->npaths, log, err);
	for (size_t i = 0; i < p->npaths; i++)
		if (src[i].fd >= 0)
			close(src[i].fd);
	free(src);
	return r;
}

/* ---- cgroups ---- */

static int write_text(const char *dir, const char *file, const char *text)
{
	char path[PATH_MAX];
	if (snprintf(path, sizeof(path), "%s/%s", dir, file) >= (int)sizeof(path))
		return -ENAMETOOLONG;
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t len = (ssize_t)strlen(text);
	int r = fd < 0 || write(fd, text, (size_t)len) != len ? -errno : 0;
	if (fd >= 0)
		close(fd);
	return r;
}

static bool read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n = fd < 0 ? -1 : read(fd, buf, len - 1);
	if (fd >= 0)
		close(fd);
	buf[n > 0 ? n : 0] = '\0';
	return n > 0;
}

static bool has_word(const char *list, const char *word)
{
	size_t len = strlen(word);
	for (const char *s = strstr(list, word); s; s = strstr(s + 1, word))
		if ((s == list || s[-1] == ' ') && (s[len] == ' ' || s[len] == '\n' || !s[len]))
			return true;
	return false;
}

/* The cgroup v2 directory the memory, pids and cpu controllers are
 * delegated to: this process's cgroup when it enables them for its
 * children. Empty when there is none; *why says why. */
static void delegated_cgroup(char *dir, size_t len, const char **why)
{
	char self[PATH_MAX - 64], controllers[256], path[PATH_MAX];
	struct statfs sf;
	dir[0] = '\0';
	if (statfs("/sys/fs/cgroup", &sf) < 0 || sf.f_type != CGROUP2_SUPER_MAGIC) {
		*why = "/sys/fs/cgroup is not a cgroup v2 hierarchy";
		return;
	}
	if (!read_text("/proc/self/cgroup", self, sizeof(self)) || strncmp(self, "0::/", 4)) {
		*why = "this process is in no cgroup v2 group";
		return;
	}
	self[strcspn(self, "\n")] = '\0';
	snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cgroup.subtree_control",
		 strcmp(self + 3, "/") ? self + 3 : "");
	if (!read_text(path, controllers, sizeof(controllers)) || !has_word(controllers, "memory") ||
	    !has_word(controllers, "pids") || !has_word(controllers, "cpu")) {
		*why = "this process's cgroup does not enable the memory, pids and cpu controllers "
		       "for its children";
		return;
	}
	snprintf(dir, len, "/sys/fs/cgroup%s", strcmp(self + 3, "/") ? self + 3 : "");
}

/* Puts the calling process into a new cgroup `name` under the delegated
 * one, with limits for this VM. */
static void enter_cgroup(const struct confine_plan *p, const char *name,
			 const struct confine_log *log)
{
	char parent[PATH_MAX], dir[PATH_MAX + 64], value[64];
	const char *why = NULL;
	delegated_cgroup(parent, sizeof(parent), &why);
	if (!parent[0]) {
		confine_log(log, NOOK_LOG_INFO, "jail: no cgroup limits (memory, pids, cpu): %s",
			    why);
		return;
	}
	snprintf(dir, sizeof(dir), "%s/%s", parent, name);
	int r = mkdir(dir, 0755) < 0 ? -errno : 0;
	snprintf(value, sizeof(value), "%llu",
		 (unsigned long long)(p->memory_mib + JAIL_MEMORY_OVERHEAD_MIB) << 20);
	if (r == 0)
		r = write_text(dir, "memory.max", value);
	snprintf(value, sizeof(value), "%zu", p->nthreads + JAIL_SPARE_PIDS);
	if (r == 0)
		r = write_text(dir, "pids.max", value);
	/* The vCPUs and one more CPU for the I/O and worker threads. */
	snprintf(value, sizeof(value), "%u 100000", (p->vcpus + 1) * 100000);
	if (r == 0)
		r = write_text(dir, "cpu.max", value);
	if (r == 0)
		r = write_text(dir, "cgroup.procs", "0");
	if (r < 0) {
		rmdir(dir);
		confine_log(log, NOOK_LOG_WARN, "jail: no cgroup limits: %s: %s", dir, strerror(-r));
	} else {
		confine_log(log, NOOK_LOG_INFO, "jail: cgroup %s", dir);
	}
}

/* ---- the identity ---- */

static int drop_privileges(const struct confine_plan *p, uid_t uid, gid_t gid, nook_error **err)
{
	cap_value_t keep[sizeof(build_caps) / sizeof(build_caps[0]) + 2];
	int nkeep = 0;
	for (size_t i = 0; i < sizeof(build_caps) / sizeof(build_caps[0]); i++)
		keep[nkeep++] = build_caps[i];
	if (p->tap)
		keep[nkeep++] = CAP_NET_ADMIN;
	if (p->low_port)
		keep[nkeep++] = CAP_NET_BIND_SERVICE;
	for (cap_value_t c = 0; c <= CAP_LAST_CAP; c++) {
		bool kept = false;
		for (int i = 0; i < nkeep; i++)
			kept |= keep[i] == c;
		if (!kept && prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			return error_set(err, errno, "jail: capability bounding set: %s",
					 strerror(errno));
	}
	if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) < 0 || setgroups(0, NULL) < 0 ||
	    setresgid(gid, gid, gid) < 0 || setresuid(uid, uid, uid) < 0)
		return error_set(err, errno, "jail: become %u:%u: %s", (unsigned)uid, (unsigned)gid,
				 strerror(errno));
	cap_t caps = cap_init();
	int r = !caps || cap_set_flag(caps, CAP_PERMITTED, nkeep, keep, CAP_SET) < 0 ||
			cap_set_flag(caps, CAP_EFFECTIVE, nkeep, keep, CAP_SET) < 0 ||
			cap_set_proc(caps) < 0 || prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) < 0 ||
			prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0
		? error_set(err, errno, "jail: capabilities: %s", strerror(errno))
		: 0;
	cap_free(caps);
	/* The new identity cleared the parent-death signal. */
	if (r == 0 && prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0)
		r = error_set(err, errno, "jail: parent-death signal: %s", strerror(errno));
#if defined(__SANITIZE_ADDRESS__)
	/* Sanitizer builds: LeakSanitizer's tracer attaches to this process's
	 * threads at exit, which a process that changed its uid (not
	 * dumpable) does not allow. */
	if (r == 0)
		prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
#endif
	return r;
}

/* ---- the process ---- */

static int by_value(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Closes every descriptor but 0-2 and those the configuration holds. */
static void close_inherited(const struct confine_plan *p)
{
	int *keep = malloc((p->nfds + 1) * sizeof(*keep));
	size_t n = 0;
	for (size_t i = 0; keep && i < p->nfds; i++)
		if (p->fds[i] > 2)
			keep[n++] = p->fds[i];
	qsort(keep, n, sizeof(*keep), by_value);
	unsigned first = 3;
	for (size_t i = 0; i < n; first = (unsigned)keep[i++] + 1)
		if ((unsigned)keep[i] > first)
			close_range(first, (unsigned)keep[i] - 1, 0);
	close_range(first, ~0u, 0);
	free(keep);
}

static void set_limits(const struct confine_plan *p)
{
	struct rlimit nofile = {JAIL_NOFILE_MAX, JAIL_NOFILE_MAX};
	struct rlimit none = {0, 0};
	char text[32];
	if (read_text("/proc/sys/fs/nr_open", text, sizeof(text)) && (rlim_t)atoll(text) < nofile.rlim_max)
		nofile.rlim_cur = nofile.rlim_max = (rlim_t)atoll(text);
	/* Without CAP_SYS_RESOURCE the hard limit stays; the soft one rises. */
	if (setrlimit(RLIMIT_NOFILE, &nofile) < 0 && getrlimit(RLIMIT_NOFILE, &nofile) == 0) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	/* No core dump: it would hold the guest's secrets. */
	setrlimit(RLIMIT_CORE, &none);
}

static int jail_child(const struct confine_plan *p, uid_t uid, gid_t gid, pid_t parent,
		      const struct confine_log *log, nook_error **err)
{
	close_inherited(p);
	bool host_net = p->user_net || p->tap;
	if (unshare(CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS | (host_net ? 0 : CLONE_NEWNET)) < 0)
		return error_set(err, errno, "jail: namespaces: %s", strerror(errno));
	char name[32];
	snprintf(name, sizeof(name), "nook-%d", (int)parent);
	enter_cgroup(p, name, log);
	int r = enter_root(p, log, err);
	if (r < 0)
		return r;
	set_limits(p);
	return drop_privileges(p, uid, gid, err);
}

/* Passes SIGINT, SIGTERM, SIGHUP and the real-time signals on to the
 * child until it ends. */
static int wait_child(pid_t child, const sigset_t *set, int *status)
{
	for (;;) {
		siginfo_t si;
		int sig = sigwaitinfo(set, &si);
		if (sig < 0 && errno == EINTR)
			continue;
		if (sig < 0)
			return -errno;
		if (sig != SIGCHLD) {
			/* A terminal signals its foreground process group: the
			 * child has it already. A real-time signal keeps its
			 * value (a sandbox's monitor talks to its VMM so). */
			if (si.si_code != SI_KERNEL)
				sigqueue(child, sig, si.si_value);
			continue;
		}
		int st;
		if (waitpid(child, &st, WNOHANG) == child) {
			*status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			return NOOK_CONFINE_WAITED;
		}
	}
}

static void remove_cgroup(const char *name)
{
	char parent[PATH_MAX], dir[PATH_MAX + 64];
	const char *why;
	delegated_cgroup(parent, sizeof(parent), &why);
	snprintf(dir, sizeof(dir), "%s/%s", parent, name);
	if (parent[0])
		rmdir(dir);
}

int jail_enter(const struct confine_plan *p, uid_t uid, gid_t gid, const struct confine_log *log,
	       int *status, nook_error **err)
{
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGCHLD);
	for (int sig = SIGRTMIN; sig <= SIGRTMAX; sig++)
		sigaddset(&set, sig);
	/* The child starts a new pid namespace; the parent's own later
	 * children (a sanitizer's tracer) must stay in this one. */
	int own_pid_ns = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
	if (own_pid_ns < 0 || unshare(CLONE_NEWPID) < 0) {
		int e = errno;
		if (own_pid_ns >= 0)
			close(own_pid_ns);
		return error_set(err, e, "jail: pid namespace: %s", strerror(e));
	}
	pid_t parent = getpid();
	fflush(NULL);
	sigprocmask(SIG_BLOCK, &set, &old);
	pid_t child = fork();
	if (child != 0)
		setns(own_pid_ns, CLONE_NEWPID);
	close(own_pid_ns);
	if (child < 0) {
		int e = errno;
		sigprocmask(SIG_SETMASK, &old, NULL);
		return error_set(err, e, "jail: fork: %s", strerror(e));
	}
	if (child == 0) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return jail_child(p, uid, gid, parent, log, err);
	}
	int r = wait_child(child, &set, status);
	sigprocmask(SIG_SETMASK, &old, NULL);
	char name[32];
	snprintf(name, sizeof(name), "nook-%d", (int)parent);
	remove_cgroup(name);
	if (r < 0)
		return error_set(err, -r, "jail: waiting for the child: %s", strerror(-r));
	return r;
}
