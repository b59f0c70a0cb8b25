/* Threads confined by role (util/thread.c, util/seccomp.c), no guest: each
 * role's thread runs under seccomp with no_new_privs and only its role's
 * capabilities; a call outside its list ends the process with a report
 * naming the thread and the call; the argument filters and the calls that
 * fail with an errno; the builder's and controller's filters hold the
 * roles started under them. Each case that may end a process runs in a
 * child. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/kvm.h>
#include <semaphore.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/capability.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/uio.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "util/seccomp.h"
#include "util/thread.h"
#include "vm/snapshot_cache.h"

#define KILLED_BY_SECCOMP (128 + SIGSYS)

/* ---- a thread that waits until told to end ---- */

struct parked {
	sem_t ready, done;
	pid_t tid;
};

static void *park(void *arg)
{
	struct parked *p = arg;
	p->tid = (pid_t)syscall(SYS_gettid);
	sem_post(&p->ready);
	while (sem_wait(&p->done) < 0)
		;
	return NULL;
}

/* The value of `field` in the thread's /proc status, e.g. "Seccomp". */
static void status_field(pid_t tid, const char *field, char *out, size_t len)
{
	char path[64], line[256];
	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	FILE *f = fopen(path, "re");
	out[0] = '\0';
	size_t flen = strlen(field);
	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, field, flen) && line[flen] == ':') {
			snprintf(out, len, "%s", line + flen + 1 + strspn(line + flen + 1, " \t"));
			out[strcspn(out, "\n")] = '\0';
		}
	if (f)
		fclose(f);
}

/* What an fs worker keeps of a root thread's capabilities. */
static uint64_t fs_worker_caps(void)
{
	return 1ULL << CAP_CHOWN | 1ULL << CAP_DAC_OVERRIDE | 1ULL << CAP_DAC_READ_SEARCH |
	       1ULL << CAP_FOWNER | 1ULL << CAP_FSETID | 1ULL << CAP_SETUID | 1ULL << CAP_SETGID |
	       1ULL << CAP_MKNOD;
}

static void test_every_role_is_confined(void **state)
{
	(void)state;
	const enum thread_role roles[] = {THREAD_ROLE_IO, THREAD_ROLE_VCPU, THREAD_ROLE_BLK_WORKER,
					  THREAD_ROLE_FS_WORKER, THREAD_ROLE_NET_SLIRP};
	char eff[64];
	status_field((pid_t)syscall(SYS_gettid), "CapEff", eff, sizeof(eff));
	uint64_t own_caps = strtoull(eff, NULL, 16);
	for (size_t i = 0; i < sizeof(roles) / sizeof(roles[0]); i++) {
		struct parked p;
		sem_init(&p.ready, 0, 0);
		sem_init(&p.done, 0, 0);
		pthread_t t;
		assert_int_equal(thread_start(&t, roles[i], "confined", true, park, &p), 0);
		while (sem_wait(&p.ready) < 0)
			;
		char seccomp[16], nnp[16];
		status_field(p.tid, "Seccomp", seccomp, sizeof(seccomp));
		status_field(p.tid, "NoNewPrivs", nnp, sizeof(nnp));
		status_field(p.tid, "CapEff", eff, sizeof(eff));
		assert_string_equal(seccomp, "2");
		assert_string_equal(nnp, "1");
		uint64_t expected = roles[i] == THREAD_ROLE_FS_WORKER ? own_caps & fs_worker_caps() : 0;
		assert_int_equal(strtoull(eff, NULL, 16), expected);
		sem_post(&p.done);
		pthread_join(t, NULL);
	}
	/* The creator stays as it was. */
	char seccomp[16];
	status_field((pid_t)syscall(SYS_gettid), "Seccomp", seccomp, sizeof(seccomp));
	assert_string_equal(seccomp, "0");
}

static void test_unconfined_thread(void **state)
{
	(void)state;
	struct parked p;
	sem_init(&p.ready, 0, 0);
	sem_init(&p.done, 0, 0);
	pthread_t t;
	assert_int_equal(thread_start(&t, THREAD_ROLE_VCPU, "free", false, park, &p), 0);
	while (sem_wait(&p.ready) < 0)
		;
	char seccomp[16];
	status_field(p.tid, "Seccomp", seccomp, sizeof(seccomp));
	assert_string_equal(seccomp, "0");
	sem_post(&p.done);
	pthread_join(t, NULL);
}

/* ---- calls in a child process ---- */

/* Runs fn on a confined thread of `role` named `name` in a child process;
 * returns its exit status (or 128+signal) and its stderr in `err`. */
static int in_child(enum thread_role role, const char *name, void *(*fn)(void *), void *arg,
		    char *err, size_t errlen)
{
	int pipefd[2];
	assert_int_equal(pipe(pipefd), 0);
	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], STDERR_FILENO);
		close(pipefd[0]);
		pthread_t t;
		void *result = NULL;
		if (thread_start(&t, role, name, true, fn, arg) < 0)
			_exit(100);
		pthread_join(t, &result);
		_exit(result ? 1 : 0);
	}
	close(pipefd[1]);
	size_t n = 0;
	ssize_t got;
	while (n + 1 < errlen && (got = read(pipefd[0], err + n, errlen - 1 - n)) > 0)
		n += (size_t)got;
	err[n] = '\0';
	close(pipefd[0]);
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static void *call_personality(void *arg)
{
	syscall(SYS_personality, 0xffffffffUL);
	return NULL;
}

static void test_forbidden_call_is_reported(void **state)
{
	(void)state;
	char err[512];
	assert_int_equal(in_child(THREAD_ROLE_BLK_WORKER, "blk-7", call_personality, NULL, err,
				  sizeof(err)),
			 KILLED_BY_SECCOMP);
	assert_string_equal(err, "nook: seccomp: thread \"blk-7\" (blk) made a forbidden system "
				 "call: personality (135); ending the process\n");
}

static void *return_null(void *arg)
{
	return NULL;
}

static void test_debug_hook(void **state)
{
	(void)state;
	char err[512];
	setenv("NOOK_DEBUG_SECCOMP_VIOLATION", "vcpu", 1);
	int st = in_child(THREAD_ROLE_VCPU, "vcpu-3", return_null, NULL, err, sizeof(err));
	setenv("NOOK_DEBUG_SECCOMP_VIOLATION", "fs-1", 1);
	int other = in_child(THREAD_ROLE_FS_WORKER, "fs-0", return_null, NULL, err + 256, 256);
	unsetenv("NOOK_DEBUG_SECCOMP_VIOLATION");
	assert_int_equal(st, KILLED_BY_SECCOMP);
	assert_non_null(strstr(err, "thread \"vcpu-3\" (vcpu) made a forbidden system call: "
				    "personality"));
	/* Another thread's name: nothing happens. */
	assert_int_equal(other, 0);
}

/* Each of these must end the process: the argument filters. */
static void *ioctl_not_kvm(void *arg)
{
	struct winsize ws;
	ioctl(0, TIOCGWINSZ, &ws);
	return NULL;
}

static void *executable_memory(void *arg)
{
	mmap(NULL, 4096, PROT_READ | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return NULL;
}

static void *unix_socket(void *arg)
{
	socket(AF_UNIX, SOCK_STREAM, 0);
	return NULL;
}

static void *signal_another_process(void *arg)
{
	/* init, with signal 0: harmless if it were allowed */
	syscall(SYS_tgkill, 1, 1, 0);
	return NULL;
}

static void *new_mount_namespace(void *arg)
{
	syscall(SYS_unshare, CLONE_NEWNS);
	return NULL;
}

static void *write_a_file(void *arg)
{
	syscall(SYS_openat, AT_FDCWD, "/dev/null", O_WRONLY);
	return NULL;
}

static void *new_process(void *arg)
{
	fork();
	return NULL;
}

static void test_argument_filters(void **state)
{
	(void)state;
	static const struct {
		enum thread_role role;
		void *(*fn)(void *);
		const char *call;
	} cases[] = {
		{THREAD_ROLE_VCPU, ioctl_not_kvm, "ioctl"},
		{THREAD_ROLE_IO, executable_memory, "mmap"},
		{THREAD_ROLE_NET_SLIRP, unix_socket, "socket"},
		{THREAD_ROLE_IO, signal_another_process, "tgkill"},
		{THREAD_ROLE_FS_WORKER, new_mount_namespace, "unshare"},
		{THREAD_ROLE_VCPU, write_a_file, "openat"},
		{THREAD_ROLE_FS_WORKER, new_process, "clone"},
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char err[512], want[64];
		int st = in_child(cases[i].role, "t", cases[i].fn, NULL, err, sizeof(err));
		snprintf(want, sizeof(want), "forbidden system call: %s (", cases[i].call);
		if (st != KILLED_BY_SECCOMP || !strstr(err, want))
			fail_msg("case %zu (%s): status %d, stderr: %s", i, cases[i].call, st, err);
	}
}

/* openat fails with EACCES on the I/O thread and blk workers, rather than
 * ending the process (glibc's malloc copes). */
static void *open_fails(void *arg)
{
	int fd = open("/proc/self/status", O_RDONLY);
	return fd < 0 && errno == EACCES ? NULL : (void *)1;
}

static void test_open_fails_with_eacces(void **state)
{
	(void)state;
	char err[512];
	assert_int_equal(in_child(THREAD_ROLE_IO, "io", open_fails, NULL, err, sizeof(err)), 0);
	assert_int_equal(in_child(THREAD_ROLE_BLK_WORKER, "blk", open_fails, NULL, err, sizeof(err)),
			 0);
}

/* The I/O thread removes a snapshot staging directory it could not fill
 * (vm/snapshot_cache.c), and never through a symlink. */
static void *remove_stage(void *arg)
{
	snapshot_remove_dir(arg);
	return NULL;
}

static void test_io_thread_removes_a_stage(void **state)
{
	(void)state;
	char dir[] = "/tmp/nook-seccomp-stage-XXXXXX", link[PATH_MAX], path[PATH_MAX], err[512] = "";
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/" SNAPSHOT_STATE_FILE, dir);
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(link, sizeof(link), "%s.link", dir);
	assert_int_equal(symlink(dir, link), 0);
	int st = in_child(THREAD_ROLE_IO, "io", remove_stage, link, err, sizeof(err));
	bool kept = access(path, F_OK) == 0;
	unlink(link);
	if (st == 0 && kept)
		st = in_child(THREAD_ROLE_IO, "io", remove_stage, dir, err, sizeof(err));
	bool gone = access(dir, F_OK) != 0;
	snapshot_remove_dir(dir);
	if (st != 0 || !kept || !gone)
		fail_msg("status %d, through the symlink %s, %s: %s", st,
			 kept ? "kept" : "removed", gone ? "removed" : "kept", err);
}

/* ---- filters stack: builder, then controller ---- */

/* What an fs worker does to a share. */
static void *fs_work(void *arg)
{
	const char *dir = arg;
	int d = open(dir, O_PATH | O_DIRECTORY);
	int ok = d >= 0 && mkdirat(d, "sub", 0755) == 0;
	int f = ok ? openat(d, "sub/file", O_CREAT | O_RDWR, 0644) : -1;
	char p[64];
	snprintf(p, sizeof(p), "/proc/self/fd/%d", f);
	struct iovec x = {"x", 1};
	ok = f >= 0 && pwritev(f, &x, 1, 0) == 1 && fsync(f) == 0 && ftruncate(f, 0) == 0 &&
	     fallocate(f, 0, 0, 4096) == 0 && linkat(d, "sub/file", d, "link", 0) == 0 &&
	     syscall(SYS_renameat2, d, "link", d, "moved", 0) == 0 &&
	     unlinkat(d, "moved", 0) == 0 && (setxattr(p, "user.t", "v", 1, 0) == 0 || errno == ENOTSUP) &&
	     fchmodat(d, "sub/file", 0600, 0) == 0 && unshare(CLONE_FS) == 0;
	if (f >= 0)
		close(f);
	if (d >= 0)
		close(d);
	return ok ? NULL : (void *)1;
}

/* A datagram from a new socket, as for the guest's UDP, to a socket
 * bound before the filters. */
struct udp_peer {
	int fd;
	struct sockaddr_in addr;
};

static void *slirp_work(void *arg)
{
	struct udp_peer *peer = arg;
	char x;
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	int ok = s >= 0 &&
		 sendto(s, "x", 1, 0, (struct sockaddr *)&peer->addr, sizeof(peer->addr)) == 1 &&
		 recvfrom(peer->fd, &x, 1, 0, NULL, NULL) == 1;
	if (s >= 0)
		close(s);
	return ok ? NULL : (void *)1;
}

static void *vcpu_work(void *arg)
{
	int fd = *(int *)arg;
	/* Not a vCPU: the call is allowed and fails. */
	return ioctl(fd, KVM_RUN, 0) < 0 && errno == ENOTTY ? NULL : (void *)1;
}

static void *io_work(void *arg)
{
	int ep = *(int *)arg;
	struct epoll_event ev;
	return epoll_wait(ep, &ev, 1, 0) == 0 ? NULL : (void *)1;
}

static int run_role(enum thread_role role, void *(*fn)(void *), void *arg)
{
	pthread_t t;
	void *result = (void *)1;
	if (thread_start(&t, role, "t", true, fn, arg) < 0)
		return 1;
	pthread_join(t, &result);
	return result != NULL;
}

static void test_filters_stack(void **state)
{
	(void)state;
	char dir[] = "/tmp/nook-test-seccomp-XXXXXX";
	assert_non_null(mkdtemp(dir));
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		int fd = eventfd(0, 0), ep = epoll_create1(0);
		struct udp_peer peer = {.fd = socket(AF_INET, SOCK_DGRAM, 0),
					.addr = {.sin_family = AF_INET,
						 .sin_addr.s_addr = htonl(INADDR_LOOPBACK)}};
		socklen_t len = sizeof(peer.addr);
		if (bind(peer.fd, (struct sockaddr *)&peer.addr, len) < 0 ||
		    getsockname(peer.fd, (struct sockaddr *)&peer.addr, &len) < 0)
			_exit(9);
		if (seccomp_prepare() < 0 || seccomp_confine_thread(THREAD_ROLE_BUILDER, "main") < 0)
			_exit(10);
		if (run_role(THREAD_ROLE_FS_WORKER, fs_work, dir) ||
		    run_role(THREAD_ROLE_NET_SLIRP, slirp_work, &peer))
			_exit(11);
		if (seccomp_confine_thread(THREAD_ROLE_CONTROLLER, "main") < 0)
			_exit(12);
		if (run_role(THREAD_ROLE_VCPU, vcpu_work, &fd) || run_role(THREAD_ROLE_IO, io_work, &ep))
			_exit(13);
		_exit(0);
	}
	int st;
	assert_int_equal(waitpid(pid, &st, 0), pid);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_role_is_confined),
		cmocka_unit_test(test_unconfined_thread),
		cmocka_unit_test(test_forbidden_call_is_reported),
		cmocka_unit_test(test_debug_hook),
		cmocka_unit_test(test_argument_filters),
		cmocka_unit_test(test_open_fails_with_eacces),
		cmocka_unit_test(test_io_thread_removes_a_stage),
		cmocka_unit_test(test_filters_stack),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
