/* nook-init: the guest's PID 1. It mounts the pseudo filesystems, opens the
 * nook virtio-console ports and tells the VMM it is ready (the point a
 * snapshot is taken at); then it reads the run's configuration from the
 * control port, sets the clock and the random pool, binds the devices the
 * VMM filled in, mounts the file systems, configures the network, starts
 * the exec agent when asked to (init_agent.c), runs the program with its
 * stdio on the console ports, reaps every child, and reports the program's
 * exit status on the paravirtual port. Without a program (an idle sandbox)
 * it stays up, reaping, until the host asks it to stop. The contract with
 * the VMM is guest/protocol.h. */

#include <dirent.h>
#include <pthread.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "guest/init/init_agent.h"
#include "guest/init/init_config.h"
#include "guest/init/init_control.h"
#include "guest/init/init_disks.h"
#include "guest/init/init_links.h"
#include "guest/init/init_machine.h"
#include "guest/init/init_mount.h"
#include "guest/init/init_net.h"
#include "guest/init/init_ports.h"
#include "guest/init/init_run.h"
#include "guest/protocol.h"

/* How long to wait for the nook console ports to show up (see open_ports). */
#define PORT_WAIT_MS 2000
#define PORT_POLL_MS 10

static bool have_port;
/* The program's stderr port once open: a failure is told there too, since
 * the kernel log reaches the host only with --kernel-log. */
static int stderr_port = -1;

static void report_event(enum nook_port_event event, unsigned arg)
{
	if (have_port)
		outl(NOOK_PORT_VALUE(event, arg), NOOK_PORT);
}

static _Noreturn void power_off(void)
{
	/* The VMM ends the VM at the EXIT_STATUS or INIT_FAILED event; this is
	 * for one that does not. A reboot reaches any VMM (nook boots the
	 * kernel with reboot=k); a power-off without ACPI only halts. */
	reboot(RB_AUTOBOOT);
	reboot(RB_POWER_OFF);
	_exit(1); /* PID 1 exiting panics the kernel: the very last resort */
}

/* To the kernel log, at error level so that it reaches the console even
 * with "quiet"; to fd 2 if there is no /dev/kmsg; with `to_user`, also to
 * the program's stderr port. */
static void vlog(bool to_user, const char *fmt, va_list ap)
{
	char msg[512];
	int n = snprintf(msg, sizeof(msg), "<3>nook-init: ");

	n += vsnprintf(msg + n, sizeof(msg) - (size_t)n - 1, fmt, ap);
	if (n > (int)sizeof(msg) - 2)
		n = (int)sizeof(msg) - 2;
	msg[n++] = '\n';

	int fd = open("/dev/kmsg", O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		(void)!write(fd, msg, (size_t)n);
		close(fd);
	} else {
		(void)!write(STDERR_FILENO, msg + 3, (size_t)n - 3);
	}
	if (to_user && stderr_port >= 0)
		(void)!write(stderr_port, msg + 3, (size_t)n - 3);
}

__attribute__((format(printf, 1, 2)))
static void warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(false, fmt, ap);
	va_end(ap);
}

__attribute__((format(printf, 2, 3)))
static _Noreturn void fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vlog(true, fmt, ap);
	va_end(ap);
	report_event(NOOK_EVENT_INIT_FAILED, (unsigned)err);
	power_off();
}

/* The system file systems of the initramfs (before the ready point). */
static void mount_all(void)
{
	static const struct {
		const char *target, *fstype, *options;
		unsigned long flags;
		bool required;
	} mounts[] = {
		{ "/dev", "devtmpfs", "mode=0755", MS_NOSUID, true },
		{ "/proc", "proc", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC, true },
		{ "/sys", "sysfs", NULL, MS_NOSUID | MS_NODEV | MS_NOEXEC, false },
		{ "/dev/pts", "devpts", "newinstance,ptmxmode=0666,mode=0620", MS_NOSUID | MS_NOEXEC, false },
		{ "/dev/shm", "tmpfs", "mode=1777", MS_NOSUID | MS_NODEV, false },
		{ "/tmp", "tmpfs", "mode=1777", MS_NOSUID | MS_NODEV, false },
	};

	for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
		const char *path = mounts[i].target;
		/* devtmpfs has no pts or shm directory */
		if (mkdir(path, 0755) < 0 && errno != EEXIST)
			warn("mkdir %s: %s", path, strerror(errno));
		if (mount(mounts[i].fstype, path, mounts[i].fstype, mounts[i].flags,
			  mounts[i].options) == 0 || errno == EBUSY)
			continue;
		if (mounts[i].required)
			fail(errno, "mount %s: %s", mounts[i].target, strerror(errno));
		warn("mount %s: %s", mounts[i].target, strerror(errno));
	}

	static const char *const links[][2] = {
		{ "pts/ptmx", "/dev/ptmx" },
		{ "/proc/self/fd", "/dev/fd" },
		{ "/proc/self/fd/0", "/dev/stdin" },
		{ "/proc/self/fd/1", "/dev/stdout" },
		{ "/proc/self/fd/2", "/dev/stderr" },
	};
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		symlink(links[i][0], links[i][1]); /* EEXIST: keep what devtmpfs made */
}

/* The initramfs's system file systems move into the new root (/dev with
 * /dev/pts and /dev/shm under it): the same mounts, made before the ready
 * point, where mounting fresh ones cost each warm run about 0.2 s of
 * emulated kernel code on PVM hosts. They come before the shares, so that a
 * share beneath /tmp or /dev lies on top of them instead of being covered. */
static void move_system_mounts(const char *root)
{
	static const struct {
		const char *path;
		bool required;
	} mounts[] = { { "/dev", true }, { "/proc", true }, { "/sys", false }, { "/tmp", false } };
	char target[256];

	for (size_t i = 0; i < sizeof(mounts) / sizeof(mounts[0]); i++) {
		snprintf(target, sizeof(target), "%s%s", root, mounts[i].path);
		/* The directory is there in nearly every root: mkdir only when
		 * it is missing (each lookup in a shared root is a FUSE request). */
		int r = mount(mounts[i].path, target, NULL, MS_MOVE, NULL);
		if (r < 0 && errno == ENOENT && mkdir(target, 0755) == 0)
			r = mount(mounts[i].path, target, NULL, MS_MOVE, NULL);
		if (r == 0)
			continue;
		if (mounts[i].required)
			fail(errno, "mount %s: %s", mounts[i].path, strerror(errno));
		warn("mount %s: %s", mounts[i].path, strerror(errno));
	}
}

/* The kernel starts PID 1 with fds 0-2 on /dev/console only if the
 * initramfs has that node; make sure they are open so that no file opened
 * later lands on them. */
static void open_std_fds(void)
{
	int fd = open("/dev/console", O_RDWR | O_NOCTTY);

	if (fd < 0)
		fd = open("/dev/null", O_RDWR);
	while (fd >= 0 && fd < STDERR_FILENO)
		fd = dup(fd);
	if (fd > STDERR_FILENO)
		close(fd);
}

/* Waits on the control port for the run's configuration. */
static void receive_config(int control, struct init_config *cfg)
{
	char err[256];

	for (;;) {
		uint32_t type;
		void *msg;
		size_t len;
		int r = init_control_read(control, &type, &msg, &len);

		if (r <= 0)
			fail(r < 0 ? -r : EPIPE, "control port: %s", r < 0 ? strerror(-r) : "closed");
		/* A signal before there is a program has nobody to go to. */
		if (type == NOOK_MSG_CONFIG) {
			r = init_config_parse(msg, len, cfg, err, sizeof(err));
			free(msg);
			if (r < 0)
				fail(-r, "configuration: %s", err);
			return;
		}
		free(msg);
	}
}

/* The program's stdin, stdout and stderr, then the control port. */
#define NPORTS 4
static const char *const port_names[NPORTS] = {
	NOOK_PORT_NAME_STDIN, NOOK_PORT_NAME_STDOUT, NOOK_PORT_NAME_STDERR, NOOK_PORT_NAME_CONTROL,
};

/* Opens the ports of port_names[] that are not open in fds[] yet. Returns
 * how many are open, or -1 without a virtio console driver. */
static int scan_ports(int fds[NPORTS])
{
	DIR *dir = opendir("/sys/class/virtio-ports");
	struct dirent *e;

	if (!dir)
		return -1;
	while ((e = readdir(dir))) {
		char path[300], name[64];

		if (e->d_name[0] == '.' || !init_port_name(dir, e->d_name, name, sizeof(name)))
			continue; /* its name has not come yet */
		for (int i = 0; i < NPORTS; i++) {
			if (fds[i] >= 0 || strcmp(name, port_names[i]) != 0)
				continue;
			snprintf(path, sizeof(path), "/dev/%s", e->d_name);
			fds[i] = open(path, (i == 1 || i == 2 ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
		}
	}
	closedir(dir);
	int n = 0;
	for (int i = 0; i < NPORTS; i++)
		n += fds[i] >= 0;
	return n;
}

/* Whether the VMM disabled the implicit console: no stdio ports come. */
static bool stdio_disabled(void)
{
	char cmdline[4096];
	int fd = open("/proc/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n = fd >= 0 ? read(fd, cmdline, sizeof(cmdline) - 1) : -1;

	if (fd >= 0)
		close(fd);
	if (n <= 0)
		return false;
	cmdline[n] = '\0';
	size_t len = strlen(NOOK_CMDLINE_NO_STDIO);
	for (char *p = cmdline; (p = strstr(p, NOOK_CMDLINE_NO_STDIO)); p += len)
		if ((p == cmdline || p[-1] == ' ') && (p[len] == ' ' || p[len] == '\n' || !p[len]))
			return true;
	return false;
}

static void open_ports(int fds[NPORTS])
{
	bool no_stdio = stdio_disabled();

	/* The kernel adds multiport console ports, and learns their names, from
	 * the host's control messages in a work queue: they may still be on
	 * their way when PID 1 starts. */
	for (int waited = 0;; waited += PORT_POLL_MS) {
		int n = scan_ports(fds);

		if (n < 0 || n == NPORTS || (no_stdio && fds[3] >= 0) || waited >= PORT_WAIT_MS)
			break;
		nanosleep(&(struct timespec){ .tv_nsec = PORT_POLL_MS * 1000000L }, NULL);
	}
	stderr_port = fds[2];

	for (int i = 0; i < 3; i++) {
		if (fds[i] >= 0)
			continue;
		const char *fallback = i == 0 || no_stdio ? "/dev/null" : "/dev/console";
		if (!no_stdio)
			warn("no port %s, using %s", port_names[i], fallback);
		fds[i] = open(fallback, (i == 0 ? O_RDONLY : O_WRONLY) | O_CLOEXEC);
		if (fds[i] < 0)
			fds[i] = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (fds[i] < 0)
			fail(errno, "/dev/null: %s", strerror(errno));
	}
}

/* Forwards the signals that come on the control port to the program's
 * process group, until the host closes the port. Without a program (pgid
 * 0) a stop signal ends the VM. */
struct control {
	int fd;
	pid_t pgid;
};

static bool is_stop_signal(uint32_t signo)
{
	return signo == SIGTERM || signo == SIGINT || signo == SIGHUP || signo == SIGQUIT ||
	       signo == SIGKILL;
}

static void *control_main(void *arg)
{
	const struct control *c = arg;

	for (;;) {
		uint32_t type;
		void *msg;
		size_t len;

		if (init_control_read(c->fd, &type, &msg, &len) <= 0)
			return NULL;
		struct nook_msg_signal sig;
		if (type == NOOK_MSG_SIGNAL && len == sizeof(sig)) {
			memcpy(&sig, msg, sizeof(sig));
			if (c->pgid == 0 && is_stop_signal(sig.signo)) {
				/* The ioperm() of PID 1 is its threads' too. */
				sync();
				report_event(NOOK_EVENT_EXIT_STATUS, 0);
				power_off();
			}
			if (c->pgid > 0 && sig.signo > 0 && sig.signo < NSIG)
				kill(-c->pgid, (int)sig.signo);
		}
		free(msg);
	}
}

/* What the run's configuration asks for before the program starts. */
static void set_up(const struct init_config *cfg)
{
	char err[512];
	int r;

	if ((r = init_set_clock(cfg, err, sizeof(err))) < 0 ||
	    (r = init_add_entropy(cfg, err, sizeof(err))) < 0 ||
	    (r = init_set_hostname(cfg, err, sizeof(err))) < 0 ||
	    (r = init_bind_slots(cfg, err, sizeof(err))) < 0 ||
	    (r = init_mount_root(cfg, err, sizeof(err))) < 0)
		fail(-r, "%s", err);
	if (r > 0)
		move_system_mounts(INIT_NEW_ROOT);
	if ((r = init_mount_shares(cfg, err, sizeof(err))) < 0)
		fail(-r, "%s", err);
	init_disk_links();
	if (init_port_links(cfg, err, sizeof(err)) < 0)
		fail(ENODEV, "%s", err);
	if (init_net_configure(cfg, err, sizeof(err)) < 0)
		warn("network: %s", err);
}

/* The exec agent, listening before the host hears that the program
 * started; a sandbox that cannot have one still runs its program. */
static void start_agent(uint32_t port)
{
	int fd = init_agent_listen(port);

	if (fd < 0) {
		warn("exec agent: vsock port %u: %s", port, strerror(-fd));
		return;
	}
	pid_t pid = fork();
	if (pid < 0)
		warn("exec agent: fork: %s", strerror(errno));
	if (pid == 0)
		init_agent_main(fd);
	close(fd);
}

/* An idle sandbox: PID 1 reaps whatever ends until the control thread
 * stops the VM. */
static _Noreturn void stay_idle(void)
{
	sigset_t chld;

	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	for (;;) {
		int r = init_reap(0); /* no child is 0: returns with no children left */

		if (r != -ECHILD)
			warn("reaping: %s", strerror(-r));
		sigwaitinfo(&chld, NULL);
	}
}

int main(void)
{
	have_port = ioperm(NOOK_PORT, 4, 1) == 0;
	int port_errno = errno;
	report_event(NOOK_EVENT_USERSPACE_STARTED, 0);

	/* As in sinit: PID 1 blocks every signal (it has no use for them and
	 * waitpid() then never sees EINTR); the program gets the original mask. */
	sigset_t all, orig;
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &orig);

	struct init_config cfg;
	int ports[NPORTS] = { -1, -1, -1, -1 };

	mount_all();
	open_std_fds();
	char err[512];
	/* Before the ports, whose names the kernel may still be learning. */
	int root = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	int nskipped = root >= 0 ? init_root_links(root, err, sizeof(err)) : 0;
	if (root >= 0)
		close(root);
	if (nskipped)
		warn("%d links of the root not made; the first: %s", nskipped, err);
	if (!have_port)
		warn("ioperm(0x%x): %s; the VMM will not see the exit status", NOOK_PORT,
		     strerror(port_errno));
	open_ports(ports);
	if (ports[3] < 0)
		fail(ENODEV, "no control port %s", NOOK_PORT_NAME_CONTROL);
	if (init_net_loopback(err, sizeof(err)) < 0)
		warn("network: %s", err);

	/* The ready point: nothing so far depends on the run. */
	report_event(NOOK_EVENT_READY, 0);
	receive_config(ports[3], &cfg);
	set_up(&cfg);
	if (cfg.agent_port)
		start_agent(cfg.agent_port);

	report_event(NOOK_EVENT_PROGRAM_STARTED, 0);
	pid_t pid = cfg.exec_path ? init_spawn(&cfg, ports, &orig) : 0;
	if (pid < 0)
		fail(-pid, "starting the program: %s", strerror(-pid));

	static struct control control;
	pthread_t control_thread;
	control = (struct control){ .fd = ports[3], .pgid = pid };
	if (pthread_create(&control_thread, NULL, control_main, &control) != 0)
		warn("no control thread: nook cannot stop the program gracefully");
	if (!cfg.exec_path)
		stay_idle();

	int status = init_reap(pid);
	if (status < 0)
		fail(-status, "waiting for the program: %s", strerror(-status));
	sync();
	report_event(NOOK_EVENT_EXIT_STATUS, (unsigned)status);
	power_off();
}
