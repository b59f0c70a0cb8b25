/* The allow-lists, and the machinery that turns them into filters.
 *
 * Each list says why each call is there. They were found by reading the
 * code and by tracing (strace -f) every test suite, and are checked by
 * running all of them with the filters on, in the plain and the sanitizer
 * builds. Anything a list lacks ends the process (util/seccomp.h); a few
 * calls fail with an errno instead, where glibc or the code copes and
 * ending the process would help nobody (marked "fails").
 *
 * Custom backends (nook_vm_config_add_fs_custom, _add_net_custom,
 * _add_console_custom) run under the fs worker's and the I/O thread's
 * lists. */
#include "util/seccomp.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/fs.h>
#include <linux/if_tun.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <seccomp.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

/* One rule: a call, allowed (or failing with `errno_value`), for any
 * arguments or only when its `nargs` comparisons hold. */
struct rule {
	int nr;
	int errno_value; /* 0: allowed */
	unsigned nargs;
	struct scmp_arg_cmp args[2];
};

/* A comparison value only known when the filter is built. */
#define OWN_PID UINT64_MAX

#define ALLOW(name) {.nr = SCMP_SYS(name)}
#define FAIL(name, e) {.nr = SCMP_SYS(name), .errno_value = (e)}
#define ALLOW_EQ(name, a, value)                                                      \
	{.nr = SCMP_SYS(name), .nargs = 1,                                            \
	 .args = {{.arg = (a), .op = SCMP_CMP_EQ, .datum_a = (uint64_t)(value)}}}
/* (argument a & mask) == value */
#define ALLOW_MASKED(name, a, mask, value)                                            \
	{.nr = SCMP_SYS(name), .nargs = 1,                                            \
	 .args = {{.arg = (a), .op = SCMP_CMP_MASKED_EQ, .datum_a = (uint64_t)(mask), \
		   .datum_b = (uint64_t)(value)}}}
#define FAIL_MASKED(name, a, mask, value, e)                                          \
	{.nr = SCMP_SYS(name), .errno_value = (e), .nargs = 1,                        \
	 .args = {{.arg = (a), .op = SCMP_CMP_MASKED_EQ, .datum_a = (uint64_t)(mask), \
		   .datum_b = (uint64_t)(value)}}}
/* ioctl requests are 32 bits; the kernel ignores the rest. */
#define ALLOW_IOCTL(request) ALLOW_MASKED(ioctl, 1, 0xffffffffu, request)
#define END {.nr = -1}

/* Every thread. */
static const struct rule every_thread[] = {
	ALLOW(futex),         /* locks, condition variables, semaphores, joins */
	/* malloc's arenas and large blocks; never executable memory */
	ALLOW_MASKED(mmap, 2, PROT_EXEC, 0),
	ALLOW_MASKED(mprotect, 2, PROT_EXEC, 0),
	ALLOW(mremap),        /* realloc of a large block */
	ALLOW(munmap),        /* free */
	/* free, glibc trimming a thread's stack at exit, and virtio-balloon
	 * giving guest pages back (MADV_DONTNEED, on the I/O thread) */
	ALLOW(madvise),
	ALLOW(brk),           /* malloc's main arena, which any thread may use */
	/* glibc's malloc counts the CPUs once, on whichever thread first needs
	 * a ninth arena: from /sys (where open is allowed; else it fails) or,
	 * failing that, the affinity mask */
	ALLOW(sched_getaffinity),
	ALLOW(clock_gettime), /* the vDSO's fallback on hosts whose clock it cannot read */
	ALLOW(rt_sigprocmask), /* glibc blocks signals around thread exit and abort */
	ALLOW(rt_sigreturn),  /* return from a handler (the vCPU kick) */
	ALLOW(restart_syscall), /* a call interrupted by a signal goes on */
	ALLOW(write),         /* eventfds, output, and this file's SIGSYS report */
	ALLOW(exit),          /* the thread ends */
	ALLOW(exit_group),    /* the SIGSYS report ends the process; so do abort and exit */
	/* pthread_kill() and raise() (abort), only within this process: the
	 * vCPU kick, glibc's cancellation */
	ALLOW(getpid),
	ALLOW(gettid),
	ALLOW_EQ(tgkill, 0, OWN_PID),
	END,
};

/* Device code, which runs on the I/O thread (its event sources) and on a
 * vCPU thread (an MMIO or port write: a queue made ready, a device
 * reset): the virtio queues' eventfds, console stdio, network frames, the
 * stop timer, virtio-rng. */
static const struct rule device_io[] = {
	ALLOW(read),          /* eventfds, the timer, stdin, TAP frames */
	ALLOW(readv),         /* stdin into the guest's buffers */
	ALLOW(recvfrom),      /* frames from sockets (slirp's pair, gvproxy, passt) */
	ALLOW(sendto),        /* frames to them */
	ALLOW(sendmsg),       /* passt: length and frame in one message */
	ALLOW(sendmmsg),      /* a batch of frames to a datagram socket (gvproxy, VDE) */
	ALLOW(poll),          /* waiting for a slow stdout or a socket to drain */
	ALLOW(epoll_ctl),     /* a source paused until its peer drains */
	ALLOW(getrandom),     /* virtio-rng */
	ALLOW(close),         /* a console input at end of file */
	ALLOW(shutdown),      /* a console port's output ends, a vsock half-close */
	END,
};

/* The event loop (util/event_loop.c), and at a cold boot's ready point
 * the snapshot it saves into the cache (vm/warm_start.c): the paused
 * VM's state, and a staged directory of new files renamed into place. */
static const struct rule io_thread[] = {
	ALLOW(epoll_wait),
	/* new files only; reading fails (glibc's CPU count copes) */
	ALLOW_MASKED(openat, 2, O_ACCMODE | O_CREAT | O_EXCL, O_WRONLY | O_CREAT | O_EXCL),
	/* a staging directory to remove, never through a symlink */
	ALLOW_MASKED(openat, 2, O_ACCMODE | O_CREAT | O_PATH, O_PATH),
	FAIL_MASKED(openat, 2, O_ACCMODE | O_CREAT | O_PATH, O_RDONLY, EACCES),
	ALLOW(mkdir),         /* the staging directory */
	ALLOW(ftruncate),     /* the memory file's size, its holes left sparse */
	ALLOW(pwrite64),
	ALLOW(fsync),
	ALLOW(rename),        /* into place */
	ALLOW(renameat2),     /* RENAME_EXCHANGE over a snapshot being replaced */
	ALLOW(unlinkat),      /* the staging directory, its files and itself */
	/* virtio-vsock's host side (backends/vsock/unix.c): the guest's
	 * connections to UNIX sockets, host clients accepted, the deadline of
	 * a client's CONNECT line (half-closes: device_io's shutdown) */
	ALLOW_EQ(socket, 0, AF_UNIX),
	ALLOW(connect),
	ALLOW(accept4),
	ALLOW(timerfd_settime),
	ALLOW_IOCTL(KVM_CHECK_EXTENSION),
	ALLOW_IOCTL(KVM_GET_MSR_INDEX_LIST),
	ALLOW_IOCTL(KVM_GET_REGS),
	ALLOW_IOCTL(KVM_GET_SREGS),
	ALLOW_IOCTL(KVM_GET_FPU),
	ALLOW_IOCTL(KVM_GET_XSAVE),
	ALLOW_IOCTL(KVM_GET_XCRS),
	ALLOW_IOCTL(KVM_GET_MSRS),
	ALLOW_IOCTL(KVM_GET_LAPIC),
	ALLOW_IOCTL(KVM_GET_VCPU_EVENTS),
	ALLOW_IOCTL(KVM_GET_MP_STATE),
	ALLOW_IOCTL(KVM_GET_DEBUGREGS),
	ALLOW_IOCTL(KVM_GET_IRQCHIP),
	ALLOW_IOCTL(KVM_GET_PIT2),
	ALLOW_IOCTL(KVM_GET_CLOCK),
	END,
};

/* The vCPU loop (kvm/vcpu.c); its exits run device code (device_io). */
static const struct rule vcpu_thread[] = {
	ALLOW_IOCTL(KVM_RUN),
	/* a split irqchip's IOAPIC (devices/ioapic.c): a guest write to a
	 * redirection entry rewrites the VM's interrupt routes */
	ALLOW_IOCTL(KVM_SET_GSI_ROUTING),
	/* the report of an emulation failure (x86/diagnose.c) reads the
	 * registers and looks the guest's RIP up in the kernel's System.map */
	ALLOW_IOCTL(KVM_GET_REGS),
	ALLOW_IOCTL(KVM_GET_SREGS),
	ALLOW_MASKED(openat, 2, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY),
	ALLOW(newfstatat),
	END,
};

/* A virtio-blk worker: the disk image, opened while building. */
static const struct rule blk_worker[] = {
	ALLOW(preadv),
	ALLOW(pwritev),
	ALLOW(pread64),       /* qcow2 and vmdk tables */
	ALLOW(pwrite64),
	ALLOW(fsync),         /* guest flushes, sync=full */
	ALLOW(fdatasync),     /* sync=relaxed */
	ALLOW(fallocate),     /* discard and write-zeroes */
	FAIL(openat, EACCES), /* glibc's CPU count (every_thread) copes */
	END,
};

/* A virtio-fs worker: the FUSE server (backends/fs/fs_server.c), which
 * reaches every file from its share's root one name at a time, and names
 * the file behind a descriptor as /proc/self/fd/N. */
static const struct rule fs_worker[] = {
	ALLOW(openat2),       /* lookups beneath the share, no symlinks followed */
	ALLOW(openat),        /* reopening a node through /proc/self/fd */
	ALLOW(close),
	ALLOW(newfstatat),    /* GETATTR, and what each lookup finds */
	ALLOW(fstatfs),       /* STATFS */
	ALLOW(getdents64),    /* READDIR */
	ALLOW(lseek),         /* LSEEK (SEEK_DATA, SEEK_HOLE), rewinding a directory */
	ALLOW(readlinkat),    /* READLINK */
	ALLOW(mkdirat),
	ALLOW(mknodat),       /* files, fifos, sockets, overlayfs whiteouts */
	ALLOW(symlinkat),
	ALLOW(linkat),
	ALLOW(unlinkat),
	ALLOW(renameat2),     /* RENAME2: exchange, no-replace, whiteout */
	ALLOW(fchmod),        /* SETATTR */
	ALLOW(chmod),         /* on /proc/self/fd/N */
	ALLOW(fchmodat),
	ALLOW(fchownat),
	ALLOW(truncate),
	ALLOW(ftruncate),
	ALLOW(utimensat),
	ALLOW(faccessat),     /* ACCESS */
	ALLOW(faccessat2),
	ALLOW(preadv),        /* READ, WRITE */
	ALLOW(pwritev),
	ALLOW(fsync),         /* FSYNC, FSYNCDIR */
	ALLOW(fdatasync),
	ALLOW(syncfs),        /* SYNCFS */
	ALLOW(fallocate),     /* FALLOCATE */
	ALLOW(copy_file_range), /* COPY_FILE_RANGE */
	ALLOW(getxattr),      /* the xattr requests, on /proc/self/fd/N */
	ALLOW(setxattr),
	ALLOW(listxattr),
	ALLOW(removexattr),
	/* each thread's own umask and working directory... */
	ALLOW_EQ(unshare, 0, CLONE_FS),
	ALLOW(umask),
	/* ...and, when nook runs as root without the jail, the guest caller's
	 * ids as the thread's file system ids */
	ALLOW(setfsuid),
	ALLOW(setfsgid),
	ALLOW(getgroups),
	ALLOW(setgroups),
	ALLOW(read),          /* the device's eventfds */
	ALLOW(fcntl),         /* O_NONBLOCK off a directory opened with it */
	END,
};

/* libslirp's thread (backends/net/slirp.c): the guest's connections and
 * datagrams as the host's sockets, and the host's DNS servers. */
static const struct rule slirp_thread[] = {
	ALLOW(poll),
	ALLOW(recvfrom),
	ALLOW(sendto),
	ALLOW(read),
	ALLOW(close),
	/* new connections out, the guest's UDP and ICMP: IP sockets only */
	ALLOW_EQ(socket, 0, AF_INET),
	ALLOW_EQ(socket, 0, AF_INET6),
	ALLOW(connect),
	ALLOW(accept),        /* a connection to a published port */
	ALLOW(shutdown),
	ALLOW(setsockopt),
	ALLOW(getsockopt),    /* SO_ERROR of a connection in progress */
	ALLOW(getpeername),
	ALLOW(fcntl),         /* non-blocking sockets */
	ALLOW_IOCTL(FIONREAD), /* the size of a waiting datagram */
	/* it rereads /etc/resolv.conf when it changes */
	ALLOW_MASKED(openat, 2, O_ACCMODE | O_CREAT | O_TRUNC, O_RDONLY),
	ALLOW(newfstatat),
	END,
};

/* Starting a thread (util/thread.c), under the filter of its creator,
 * before the new thread has its own: glibc's thread set-up, the name, the
 * capabilities it gives up, no_new_privs and the filter. */
static const struct rule starting_thread[] = {
	/* pthread_create: threads only, never a process; glibc falls back
	 * from clone3 (whose flags a filter cannot read) to clone */
	ALLOW_MASKED(clone, 0, CLONE_THREAD, CLONE_THREAD),
	FAIL(clone3, ENOSYS),
	ALLOW(set_robust_list),
	ALLOW(rseq),
	ALLOW_EQ(prctl, 0, PR_SET_NAME),
	ALLOW_EQ(prctl, 0, PR_SET_NO_NEW_PRIVS),
	ALLOW_EQ(prctl, 0, PR_CAPBSET_READ), /* libcap's cap_get_proc */
	ALLOW(capget),
	ALLOW(capset),
	ALLOW_EQ(seccomp, 0, SECCOMP_SET_MODE_FILTER),
	END,
};

/* The caller's threads once the VM is built: nook_vm_start(),
 * nook_vm_wait(), nook_vm_stop(), nook_vm_signal(), nook_vm_free(), and
 * the nook command line's signal watcher. */
static const struct rule controller_thread[] = {
	ALLOW(rt_sigaction),  /* the vCPU kick's handler, at start */
	ALLOW(poll),          /* waiting for the VM to stop */
	ALLOW(read),
	ALLOW(close),         /* freeing the VM */
	ALLOW(epoll_ctl),
	ALLOW(timerfd_settime), /* the forced stop after a graceful one */
	ALLOW(timerfd_gettime),
	ALLOW(rt_sigtimedwait), /* sigwait() for SIGINT, SIGTERM, SIGHUP */
	ALLOW_IOCTL(TCGETS),  /* isatty(): the first cold boot's progress line */
	ALLOW_IOCTL(TCSETS),  /* a tty console port's terminal restored */
	END,
};

/* The caller's thread while it builds the VM (nook_vm_build): it opens
 * the kernel, images, shares and sockets, creates the VM and its devices,
 * and starts the workers (whose lists it holds as well). */
static const struct rule builder_thread[] = {
	ALLOW(openat),
	ALLOW(access),        /* where the built-in kernel and rootfs are */
	ALLOW(newfstatat),
	ALLOW(read),
	ALLOW(pread64),       /* the kernel, image headers and tables */
	ALLOW(mkdir),         /* an overlay root's work directory, the cache's */
	/* the snapshot cache's record of a file's hash (vm/snapshot_cache.c) */
	ALLOW(rename),
	ALLOW(unlink),
	ALLOW_MASKED(ioctl, 1, 0xff00u, KVMIO << 8), /* creating the VM */
	ALLOW_IOCTL(SIOCGIFINDEX), /* a TAP device: does it exist? */
	ALLOW_IOCTL(TUNSETIFF),
	ALLOW_IOCTL(BLKGETSIZE64), /* a disk on a block device */
	ALLOW_IOCTL(TCGETS),  /* a tty console port's terminal in raw mode */
	ALLOW_IOCTL(TCSETS),
	ALLOW(eventfd2),
	ALLOW(epoll_create1),
	ALLOW(timerfd_create),
	ALLOW(pipe2),         /* the control port's */
	ALLOW(fcntl),
	/* unixstream/unixgram backends, slirp's socket pair and the published
	 * ports it listens on (its IP sockets are in its own list) */
	ALLOW_EQ(socket, 0, AF_UNIX),
	ALLOW(socketpair),
	ALLOW(bind),
	ALLOW(listen),
	ALLOW(getsockname),
	ALLOW(getrandom),     /* MAC addresses */
	ALLOW(sysinfo),       /* the host's memory, for the memory check */
	ALLOW(prlimit64),
	ALLOW(geteuid),       /* the FUSE server: root takes the guest's ids */
	END,
};

#if defined(__SANITIZE_ADDRESS__)
/* Sanitizer builds only. AddressSanitizer's runtime on every thread: its
 * alternate signal stack, set up and torn down with the thread. */
static const struct rule sanitizer_thread[] = {
	ALLOW(sigaltstack),
	END,
};
/* LeakSanitizer at exit, on the caller's thread: it stops the world with
 * a tracer process that shares its memory and filters (clone without
 * CLONE_THREAD), which lists the threads in /proc (open, getdents) and
 * attaches to them (ptrace, wait4). An ASan report made on a confined
 * thread ends at its symbolizer (fork, exec): use --no-seccomp, or
 * ASAN_OPTIONS=symbolize=0 and symbolize offline. */
static const struct rule sanitizer_exit[] = {
	ALLOW_MASKED(clone, 0, CLONE_THREAD, 0),
	ALLOW(prctl),         /* PR_SET_PDEATHSIG, PR_*_DUMPABLE, PR_SET_PTRACER */
	ALLOW(getppid),
	ALLOW(sched_yield),
	ALLOW(rt_sigaction),
	ALLOW(open),
	ALLOW(getdents),
	ALLOW(lseek),
	ALLOW(read),
	ALLOW(close),
	ALLOW(fcntl),
	ALLOW(ptrace),
	ALLOW(wait4),
	END,
};
#define SANITIZER_THREAD sanitizer_thread,
#define SANITIZER_EXIT sanitizer_thread, sanitizer_exit,
#else
#define SANITIZER_THREAD
#define SANITIZER_EXIT
#endif

/* Each role's rules, and the roles started under its filter, whose lists
 * its own must hold (util/seccomp.h). */
static const struct role_list {
	const struct rule *groups[6];
	enum thread_role under[4];
	size_t nunder;
} role_lists[THREAD_ROLES] = {
	[THREAD_ROLE_IO] = {{every_thread, device_io, io_thread, SANITIZER_THREAD}},
	[THREAD_ROLE_VCPU] = {{every_thread, device_io, vcpu_thread, SANITIZER_THREAD}},
	[THREAD_ROLE_BLK_WORKER] = {{every_thread, blk_worker, SANITIZER_THREAD}},
	[THREAD_ROLE_FS_WORKER] = {{every_thread, fs_worker, SANITIZER_THREAD}},
	[THREAD_ROLE_NET_SLIRP] = {{every_thread, slirp_thread, SANITIZER_THREAD}},
	[THREAD_ROLE_CONTROLLER] = {{every_thread, starting_thread, controller_thread, SANITIZER_EXIT},
				    {THREAD_ROLE_IO, THREAD_ROLE_VCPU}, 2},
	[THREAD_ROLE_BUILDER] = {{every_thread, starting_thread, builder_thread, SANITIZER_EXIT},
				 {THREAD_ROLE_BLK_WORKER, THREAD_ROLE_FS_WORKER, THREAD_ROLE_NET_SLIRP,
				  THREAD_ROLE_CONTROLLER}, 4},
};

/* ---- building ---- */

static pthread_mutex_t prepare_lock = PTHREAD_MUTEX_INITIALIZER;
static pid_t prepared_pid;
static struct sock_fprog programs[THREAD_ROLES];

/* System call names for the report, looked up before any filter. */
#define NAMED_SYSCALLS 512
static char *syscall_names[NAMED_SYSCALLS];

/* A role's rules, and the allowed ones of the roles started under it:
 * what a contained role fails with is its own business (the stricter
 * filter decides). */
static int add_rules(scmp_filter_ctx ctx, enum thread_role role, bool contained, pid_t pid)
{
	const struct role_list *l = &role_lists[role];
	for (size_t g = 0; g < sizeof(l->groups) / sizeof(l->groups[0]) && l->groups[g]; g++)
		for (const struct rule *r = l->groups[g]; r->nr != -1; r++) {
			if (contained && r->errno_value)
				continue;
			struct scmp_arg_cmp args[2];
			memcpy(args, r->args, sizeof(args));
			for (unsigned i = 0; i < r->nargs; i++)
				if (args[i].datum_a == OWN_PID)
					args[i].datum_a = (uint64_t)pid;
			uint32_t action = r->errno_value ? SCMP_ACT_ERRNO((uint32_t)r->errno_value)
							 : SCMP_ACT_ALLOW;
			int e = seccomp_rule_add_array(ctx, action, r->nr, r->nargs, args);
			/* A rule a contained role shares with this one. */
			if (e < 0 && e != -EEXIST)
				return e;
		}
	for (size_t i = 0; i < l->nunder; i++) {
		int e = add_rules(ctx, l->under[i], true, pid);
		if (e < 0)
			return e;
	}
	return 0;
}

/* libseccomp 2.5 exports a filter only into a file descriptor. */
static int compile(enum thread_role role, pid_t pid, struct sock_fprog *out)
{
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_TRAP);
	if (!ctx)
		return -ENOMEM;
	int pipefd[2] = {-1, -1};
	/* A binary tree of syscall numbers rather than a chain: fewer
	 * comparisons per call on the busy threads. We set no_new_privs. */
	int r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (r == 0)
		r = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
	if (r == 0)
		r = add_rules(ctx, role, false, pid);
	if (r == 0 && pipe2(pipefd, O_CLOEXEC) < 0)
		r = -errno;
	if (r == 0)
		r = seccomp_export_bpf(ctx, pipefd[1]);
	if (pipefd[1] >= 0)
		close(pipefd[1]);
	/* At most BPF_MAXINSNS instructions: 32 KiB, less than a pipe holds. */
	struct sock_filter *insns = r == 0 ? malloc(BPF_MAXINSNS * sizeof(*insns)) : NULL;
	ssize_t n = insns ? read(pipefd[0], insns, BPF_MAXINSNS * sizeof(*insns)) : -1;
	if (r == 0 && (n <= 0 || n % (ssize_t)sizeof(*insns)))
		r = insns ? -EIO : -ENOMEM;
	if (r == 0)
		*out = (struct sock_fprog){.len = (unsigned short)(n / (ssize_t)sizeof(*insns)),
					   .filter = insns};
	else
		free(insns);
	if (pipefd[0] >= 0)
		close(pipefd[0]);
	seccomp_release(ctx);
	return r;
}

/* ---- the report ---- */

static __thread __attribute__((tls_model("initial-exec"))) char thread_name[16];
static __thread __attribute__((tls_model("initial-exec"))) const char *thread_role;

static size_t append(char *buf, size_t len, size_t cap, const char *s)
{
	while (*s && len < cap)
		buf[len++] = *s++;
	return len;
}

static size_t append_number(char *buf, size_t len, size_t cap, long v)
{
	char digits[24];
	size_t n = 0;
	unsigned long u = v < 0 ? (unsigned long)-v : (unsigned long)v;
	do
		digits[n++] = (char)('0' + u % 10);
	while ((u /= 10) && n < sizeof(digits));
	if (v < 0 && len < cap)
		buf[len++] = '-';
	while (n && len < cap)
		buf[len++] = digits[--n];
	return len;
}

/* Async-signal-safe: formats by hand, writes once, ends the process. */
static void on_sigsys(int sig, siginfo_t *si, void *context)
{
	char msg[256];
	size_t cap = sizeof(msg) - 1, n = 0;
	int nr = si->si_syscall;
	n = append(msg, n, cap, "nook: seccomp: thread \"");
	n = append(msg, n, cap, thread_name[0] ? thread_name : "?");
	n = append(msg, n, cap, "\" (");
	n = append(msg, n, cap, thread_role ? thread_role : "not confined by nook");
	n = append(msg, n, cap, ") made a forbidden system call: ");
	n = append(msg, n, cap, nr >= 0 && nr < NAMED_SYSCALLS && syscall_names[nr]
					? syscall_names[nr]
					: "unknown");
	n = append(msg, n, cap, " (");
	n = append_number(msg, n, cap, nr);
	n = append(msg, n, cap, "); ending the process\n");
	if (write(STDERR_FILENO, msg, n) < 0) {
		/* Nowhere left to say it. */
	}
	_exit(128 + SIGSYS);
}

int seccomp_prepare(void)
{
	pthread_mutex_lock(&prepare_lock);
	pid_t pid = getpid();
	int r = 0;
	if (prepared_pid != pid) {
		for (int i = 0; i < THREAD_ROLES; i++) {
			free(programs[i].filter);
			programs[i] = (struct sock_fprog){0};
		}
		for (int i = 0; r == 0 && i < THREAD_ROLES; i++)
			r = compile((enum thread_role)i, pid, &programs[i]);
		for (int nr = 0; r == 0 && nr < NAMED_SYSCALLS; nr++)
			if (!syscall_names[nr])
				syscall_names[nr] =
					seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
		struct sigaction sa = {.sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO};
		sigemptyset(&sa.sa_mask);
		if (r == 0 && sigaction(SIGSYS, &sa, NULL) < 0)
			r = -errno;
		/* glibc reads the time zone on the first gmtime_r(), which the
		 * CMOS clock calls on a vCPU thread. */
		tzset();
		if (r == 0)
			prepared_pid = pid;
	}
	pthread_mutex_unlock(&prepare_lock);
	return r;
}

int seccomp_confine_thread(enum thread_role role, const char *name)
{
	strncpy(thread_name, name, sizeof(thread_name) - 1);
	thread_role = thread_role_name(role);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 ||
	    syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &programs[role]) < 0)
		return -errno;
	return 0;
}

void seccomp_debug_violation(enum thread_role role, const char *name)
{
	const char *who = getenv("NOOK_DEBUG_SECCOMP_VIOLATION");
	if (who && (!strcmp(who, name) || !strcmp(who, thread_role_name(role))))
		syscall(SYS_personality, 0xffffffffUL);
}
