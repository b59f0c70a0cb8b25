/* nook_confine_enter() as root (confine/jail.c), without a guest: the
 * child looks at its own jail (identity, namespaces, capabilities,
 * seccomp, its root file system, mount flags, descriptors, limits) and the
 * parent at what the child left on the host. Output is TAP; the child's
 * lines come first. Usage: test_jail (as root; skipped otherwise). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <nook/confine.h>
#include <nook/vm.h>

#define JAIL_UID 54321
#define JAIL_GID 54322
/* CHOWN, DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID */
#define BUILD_CAPS "000000000000001f"
/* The TAP lines child_checks() prints. */
#define CHILD_CHECKS 25

static int n, failed;
static char dir[64];

static void ok(bool pass, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%sok %d - ", pass ? "" : "not ", ++n);
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	failed += !pass;
	fflush(stdout);
}

static char *path(const char *name)
{
	static char buf[8][PATH_MAX];
	static int next;
	char *p = buf[next++ % 8];
	snprintf(p, PATH_MAX, "%s/%s", dir, name);
	return p;
}

static void write_file(const char *p, const char *text)
{
	FILE *f = fopen(p, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void status_field(const char *field, char *out, size_t len)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");
	size_t flen = strlen(field);
	out[0] = '\0';
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, flen) && line[flen] == ':') {
			snprintf(out, len, "%s", line + flen + 1 + strspn(line + flen + 1, " \t"));
			out[strcspn(out, "\n")] = '\0';
		}
	if (f)
		fclose(f);
}

static bool field_is(const char *field, const char *want)
{
	char got[128];
	status_field(field, got, sizeof(got));
	if (strcmp(got, want))
		printf("# %s: %s, expected %s\n", field, got, want);
	return !strcmp(got, want);
}

static void ns_link(const char *ns, char *out, size_t len)
{
	char p[64];
	snprintf(p, sizeof(p), "/proc/self/ns/%s", ns);
	ssize_t r = readlinkat(AT_FDCWD, p, out, len - 1);
	out[r > 0 ? r : 0] = '\0';
}

static bool fails_with(int r, int e)
{
	return r < 0 && errno == e;
}

/* Not access(2): it checks without the capabilities the jail keeps. */
static bool readable(const char *p)
{
	int fd = open(p, O_RDONLY);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

static bool has_flags(const char *p, unsigned long flags)
{
	struct statvfs sv;
	int fd = open(p, O_PATH);
	bool r = fd >= 0 && fstatvfs(fd, &sv) == 0 && (sv.f_flag & flags) == flags;
	if (fd >= 0)
		close(fd);
	return r;
}

/* The top-level entries of "/" are exactly `want` (space separated,
 * sorted). */
static bool root_holds(const char *want)
{
	struct dirent **list;
	int count = scandir("/", &list, NULL, alphasort);
	char got[512] = "";
	for (int i = 0; i < count; i++) {
		if (strcmp(list[i]->d_name, ".") && strcmp(list[i]->d_name, ".."))
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", got[0] ? " " : "",
				 list[i]->d_name);
		free(list[i]);
	}
	free(count >= 0 ? list : NULL);
	if (strcmp(got, want))
		printf("# / holds [%s], expected [%s]\n", got, want);
	return !strcmp(got, want);
}

static void child_checks(nook_confine *c, const char *host_ns[5], const char *expected_root,
			 int leaked_fd, rlim_t nofile_before)
{
	static const char *const ns[5] = {"mnt", "pid", "net", "uts", "ipc"};
	char ids[64];
	snprintf(ids, sizeof(ids), "%d\t%d\t%d\t%d", JAIL_UID, JAIL_UID, JAIL_UID, JAIL_UID);
	bool uid = field_is("Uid", ids);
	snprintf(ids, sizeof(ids), "%d\t%d\t%d\t%d", JAIL_GID, JAIL_GID, JAIL_GID, JAIL_GID);
	ok(uid && field_is("Gid", ids) && field_is("Groups", ""),
	   "runs as %d:%d with no supplementary groups", JAIL_UID, JAIL_GID);
	ok(getpid() == 1, "PID 1 of its pid namespace");
	for (int i = 0; i < 5; i++) {
		char link[64];
		ns_link(ns[i], link, sizeof(link));
		ok(link[0] && strcmp(link, host_ns[i]), "own %s namespace (no network device)", ns[i]);
	}
	ok(field_is("NoNewPrivs", "1") && field_is("Seccomp", "2"), "no_new_privs, seccomp");
	ok(field_is("CapEff", BUILD_CAPS) && field_is("CapPrm", BUILD_CAPS) &&
		   field_is("CapBnd", BUILD_CAPS) && field_is("CapInh", "0000000000000000") &&
		   field_is("CapAmb", "0000000000000000"),
	   "only the build's capabilities");
	ok(root_holds(expected_root), "the root holds only the configured paths' tops");
	ok(fails_with(open("/etc/passwd", O_RDONLY), ENOENT), "no /etc/passwd");
	ok(fails_with(open(path("outside"), O_RDONLY), ENOENT), "a file beside them is not there");
	int fd = open(path("kernel"), O_RDONLY);
	ok(fd >= 0 && has_flags(path("kernel"), ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC),
	   "the kernel: readable, read-only, nosuid, nodev, noexec");
	if (fd >= 0)
		close(fd);
	fd = open(path("rw/created"), O_WRONLY | O_CREAT, 0644);
	ok(fd >= 0 && write(fd, "x", 1) == 1 && readable(path("rw/host")),
	   "the read-write share: read and create");
	if (fd >= 0)
		close(fd);
	ok(has_flags(path("rw"), ST_NOSUID | ST_NODEV | ST_NOEXEC) && !has_flags(path("rw"), ST_RDONLY),
	   "the read-write share: nosuid, nodev, noexec");
	ok(fails_with(open(path("ro/new"), O_WRONLY | O_CREAT, 0644), EROFS) &&
		   readable(path("ro/file")),
	   "the read-only share: read, no create (EROFS)");
	fd = open(path("disk.img"), O_RDWR);
	ok(fd >= 0, "the disk image opens read-write");
	if (fd >= 0)
		close(fd);
	fd = open(path("console.log"), O_WRONLY | O_TRUNC);
	ok(fd >= 0, "the console output exists and is writable");
	if (fd >= 0)
		close(fd);
	struct stat st;
	if (stat("/dev/kvm", &st) == 0) {
		fd = open("/dev/kvm", O_RDWR);
		ok(fd >= 0, "/dev/kvm opens");
		if (fd >= 0)
			close(fd);
	} else {
		ok(true, "/dev/kvm # SKIP the host has none");
	}
	ok(fails_with(mkdir("/new", 0755), EROFS), "the root is read-only");
	char cache[PATH_MAX];
	snprintf(cache, sizeof(cache), "%s/jail-%d", path("cache"), JAIL_UID);
	const char *env = getenv("NOOK_CACHE_DIR");
	ok(env && !strcmp(env, cache) && stat(cache, &st) == 0 && st.st_uid == JAIL_UID &&
		   (st.st_mode & 07777) == 0700 && !has_flags(cache, ST_RDONLY) &&
		   fails_with(open(path("cache/other"), O_WRONLY | O_CREAT, 0600), EROFS),
	   "the snapshot cache: a directory of the jail's own, not the rest of the cache");
	int d = open(path("rw"), O_PATH);
	char self[64];
	snprintf(self, sizeof(self), "/proc/self/fd/%d/host", d);
	ok(d >= 0 && readable(self), "/proc/self/fd reaches the share");
	if (d >= 0)
		close(d);
	ok(fcntl(leaked_fd, F_GETFD) < 0 && errno == EBADF && fcntl(2, F_GETFD) >= 0,
	   "inherited descriptors closed, stdio kept");
	struct rlimit core, nofile;
	ok(getrlimit(RLIMIT_CORE, &core) == 0 && core.rlim_max == 0 &&
		   getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur == nofile.rlim_max &&
		   nofile.rlim_max >= nofile_before,
	   "no core dumps; open files up to the hard limit");
	nook_error *err = NULL;
	ok(nook_confine_seal(c, &err) == 0 && field_is("CapEff", "0000000000000000") &&
		   field_is("CapPrm", "0000000000000000") && field_is("Seccomp", "2"),
	   "sealed: no capabilities left, still seccomp");
	nook_error_free(err);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("1..0 # SKIP the jail needs root\n");
		return 0;
	}
	snprintf(dir, sizeof(dir), "/tmp/nook-test-jail-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	mkdir(path("rw"), 0700);
	mkdir(path("ro"), 0700);
	write_file(path("kernel"), "not a kernel");
	write_file(path("rw/host"), "host");
	write_file(path("ro/file"), "ro");
	write_file(path("disk.img"), "");
	write_file(path("outside"), "secret");
	truncate(path("disk.img"), 1 << 20);

	/* The jail grants a directory within it (jail-UID), not all of it. */
	setenv("NOOK_CACHE_DIR", path("cache"), 1);
	nook_vm_config *cfg = nook_vm_config_new();
	nook_vm_config_set_kernel_path(cfg, path("kernel"));
	nook_vm_config_add_fs_volume(cfg, path("rw"), "/data", false);
	nook_vm_config_add_fs_volume(cfg, path("ro"), "/ro", true);
	nook_vm_config_add_disk(cfg, path("disk.img"));
	nook_vm_config_set_console_output(cfg, path("console.log"));
	nook_vm_config_set_exec_path(cfg, "/bin/true");

	/* What the child should see at the top of its root: /dev, /proc, the
	 * tops of this directory, of the built-in rootfs and nook-init, of the
	 * working directory, and /sys on PVM hosts (its marker). */
	char want[256], cwd[PATH_MAX];
	const char *tops[] = {"dev", "proc", dir + 1, NOOK_BUILD_ROOT + 1,
			      getcwd(cwd, sizeof(cwd)) ? cwd + 1 : "", NULL, NULL};
	struct stat st;
	if (stat("/sys/module/kvm_pvm", &st) == 0)
		tops[5] = "sys";
	char *sorted[8];
	int ntops = 0;
	for (int i = 0; i < 6; i++) {
		if (!tops[i] || !tops[i][0])
			continue;
		char *top = strndup(tops[i], strcspn(tops[i], "/"));
		bool dup = false;
		for (int j = 0; j < ntops; j++)
			dup |= !strcmp(sorted[j], top);
		if (dup)
			free(top);
		else
			sorted[ntops++] = top;
	}
	for (int i = 0; i < ntops; i++)
		for (int j = i + 1; j < ntops; j++)
			if (strcmp(sorted[i], sorted[j]) > 0) {
				char *t = sorted[i];
				sorted[i] = sorted[j];
				sorted[j] = t;
			}
	want[0] = '\0';
	for (int i = 0; i < ntops; i++) {
		snprintf(want + strlen(want), sizeof(want) - strlen(want), "%s%s", i ? " " : "",
			 sorted[i]);
		free(sorted[i]);
	}

	static const char *const ns[5] = {"mnt", "pid", "net", "uts", "ipc"};
	char links[5][64];
	const char *host_ns[5];
	for (int i = 0; i < 5; i++) {
		ns_link(ns[i], links[i], sizeof(links[i]));
		host_ns[i] = links[i];
	}
	int leaked = open("/dev/null", O_RDONLY);
	struct rlimit nofile;
	getrlimit(RLIMIT_NOFILE, &nofile);

	nook_confine *c = nook_confine_new();
	nook_confine_set_jail_ids(c, JAIL_UID, JAIL_GID);
	nook_error *err = NULL;
	int status = -1;
	int r = nook_confine_enter(c, cfg, &status, &err);
	if (r == NOOK_CONFINE_RUN) {
		child_checks(c, host_ns, want, leaked, nofile.rlim_max);
		nook_confine_free(c);
		nook_vm_config_free(cfg);
		exit(failed);
	}
	if (r < 0)
		printf("# %s\n", nook_error_message(err));
	n = CHILD_CHECKS;
	ok(r == NOOK_CONFINE_WAITED && status == 0, "the child passed its checks (status %d)",
	   status);
	ok(stat(path("console.log"), &st) == 0 && st.st_uid == JAIL_UID && st.st_gid == JAIL_GID,
	   "the console output was made for the jail's identity");
	ok(stat(path("rw/created"), &st) == 0 && st.st_uid == JAIL_UID,
	   "a file made in the share belongs to the jail's identity");
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		failed++;
	printf("1..%d\n", n);
	nook_confine_free(c);
	nook_vm_config_free(cfg);
	return failed > 0;
}
