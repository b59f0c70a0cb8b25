/* nook_confine_enter() without the jail (confine/landlock.c), as any user:
 * a child confines itself and tries files inside and outside what its
 * configuration names, and TCP. Output is TAP. Skipped on kernels without
 * Landlock. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/landlock.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nook/confine.h>
#include <nook/vm.h>

static int n, failed;
static char dir[64];

static void ok(bool pass, const char *what)
{
	printf("%sok %d - %s\n", pass ? "" : "not ", ++n, what);
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

static void write_file(const char *p)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd >= 0)
		close(fd);
}

static bool denied(int r)
{
	int e = errno;
	if (r >= 0)
		close(r);
	return r < 0 && e == EACCES;
}

static bool opens(const char *p, int flags)
{
	int fd = open(p, flags, 0644);
	if (fd >= 0)
		close(fd);
	return fd >= 0;
}

static void child_checks(int abi)
{
	ok(opens(path("kernel"), O_RDONLY), "the kernel is readable");
	ok(denied(open(path("kernel"), O_WRONLY)), "the kernel is not writable");
	ok(denied(open(path("outside"), O_RDONLY)), "a file beside them is not readable");
	ok(denied(open("/etc/passwd", O_RDONLY)), "/etc/passwd is not readable");
	ok(opens(path("rw/new"), O_WRONLY | O_CREAT) && mkdir(path("rw/d"), 0755) == 0 &&
		   rename(path("rw/new"), path("rw/d/moved")) == 0,
	   "the read-write share: create, mkdir, rename into a subdirectory");
	ok(opens(path("ro/file"), O_RDONLY) && denied(open(path("ro/new"), O_WRONLY | O_CREAT, 0644)),
	   "the read-only share: read, no create");
	ok(opens(path("disk.img"), O_RDWR), "the disk image opens read-write");
	ok(opens(path("console.log"), O_WRONLY | O_TRUNC), "the console output is writable");
	ok(opens("/proc/self/status", O_RDONLY), "the process's own /proc entries are readable");
	int s = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(1),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	if (abi >= 4)
		ok(s >= 0 && connect(s, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno == EACCES,
		   "no TCP connection without user-mode networking");
	else
		ok(true, "TCP # SKIP Landlock ABI below 4");
	if (s >= 0)
		close(s);
}

int main(void)
{
	int abi = (int)syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
	if (abi < 1) {
		printf("1..0 # SKIP no Landlock\n");
		return 0;
	}
	snprintf(dir, sizeof(dir), "/tmp/nook-test-landlock-XXXXXX");
	if (!mkdtemp(dir))
		return 1;
	mkdir(path("rw"), 0755);
	mkdir(path("ro"), 0755);
	write_file(path("kernel"));
	write_file(path("ro/file"));
	write_file(path("disk.img"));
	write_file(path("outside"));

	nook_vm_config *cfg = nook_vm_config_new();
	nook_vm_config_set_kernel_path(cfg, path("kernel"));
	nook_vm_config_add_fs_volume(cfg, path("rw"), "/data", false);
	nook_vm_config_add_fs_volume(cfg, path("ro"), "/ro", true);
	nook_vm_config_add_disk(cfg, path("disk.img"));
	nook_vm_config_set_console_output(cfg, path("console.log"));
	nook_vm_config_set_exec_path(cfg, "/bin/true");
	/* Landlock alone: the checks' own calls are not the VM's. */
	nook_vm_config_set_seccomp(cfg, false);

	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		nook_confine *c = nook_confine_new();
		nook_confine_set_jail(c, false);
		nook_error *err = NULL;
		int status;
		int r = nook_confine_enter(c, cfg, &status, &err);
		if (r != NOOK_CONFINE_RUN) {
			printf("# %s\n", err ? nook_error_message(err) : "forked");
			_exit(100);
		}
		child_checks(abi);
		_exit(failed);
	}
	int st;
	waitpid(pid, &st, 0);
	n = 10; /* the child's checks */
	ok(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the child passed its checks");
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		failed++;
	printf("1..%d\n", n);
	nook_vm_config_free(cfg);
	return failed > 0;
}
