/* Long-lived sandboxes, daemonless like podman: nook create/start/ps/logs/
 * stop/kill/rm/inspect, and run -d / run -t. Each running sandbox is a
 * monitor process (its lock in the sandbox's directory, sandbox_dir.h)
 * whose child is the VMM, `nook run --sandbox-dir DIR SPEC...`. The
 * monitor records how the sandbox ends and passes stop and kill on to the
 * VMM as real-time signals; execs talk to nook-init's agent through the
 * VMM's vsock socket. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nook/exec.h>

#include "cli/cli.h"
#include "cli/group.h"
#include "cli/sandbox_dir.h"

/* The agent needs the sandbox's own vsock socket. */
#define SANDBOX_NO_VSOCK "--vsock: a sandbox has its own, " SANDBOX_VSOCK " in its directory " \
	"('nook inspect' shows it; the guest's connections to host port P go to its _P)"

/* How long stop waits beyond its timeout for the VMM to end the VM. */
#define STOP_GRACE_S 30

static const char usage_create[] =
	"Usage: nook create [--name NAME] [RUN OPTIONS] [--] [PROGRAM [ARG...]]\n"
	"\n"
	"Create a sandbox without starting it: 'nook start NAME' boots it and runs\n"
	"PROGRAM in the background; without PROGRAM it stays up, idle, until 'nook\n"
	"stop'. The options are those of 'nook run --help'. Prints the name (made up\n"
	"when --name is not given).\n"
	"\n"
	"Sandboxes are the user's own (in $XDG_RUNTIME_DIR/nook, or /run/nook for\n"
	"root); each running one is a process of its own, no daemon:\n"
	"  nook start NAME                  boot it; returns when it is ready for execs\n"
	"  nook exec [-i] [-t] [-e K=V] [-w DIR] [-u UID[:GID]] NAME PROGRAM [ARG...]\n"
	"  nook ps [-a|--all] [--format table|json]\n"
	"  nook logs [-f] NAME              PROGRAM's stdout and stderr\n"
	"  nook stop [-t SECONDS] NAME...   SIGTERM, then the VM ends after SECONDS (10)\n"
	"  nook kill [-s SIGNAL] NAME...    a signal for PROGRAM (default KILL)\n"
	"  nook rm [-f] NAME...             remove a sandbox that is not running (-f: stop it)\n"
	"  nook inspect NAME                everything about it, as JSON\n";

/* ---- the sandbox's spec: run's options and the program ---- */

/* What ps and inspect show of a spec, read without applying it. */
struct spec_info {
	int prog;           /* index of the program in argv, argc without one */
	const char *ports[32]; /* -p values */
	size_t nports;
	const char *group;  /* --group */
};

static void spec_scan(int argc, char **argv, struct spec_info *info)
{
	*info = (struct spec_info){0};
	int opt, saved = opterr, index = -1;
	opterr = 0;
	optind = 1;
	while ((opt = getopt_long(argc, argv, RUN_SHORT_OPTIONS, run_options, &index)) != -1) {
		if (opt == 'p' && info->nports < sizeof(info->ports) / sizeof(info->ports[0]))
			info->ports[info->nports++] = optarg;
		else if (index >= 0 && strcmp(run_options[index].name, "group") == 0)
			info->group = optarg;
		index = -1;
	}
	info->prog = optind;
	opterr = saved;
}

/* The spec with "run" in front, as getopt and cmd_run want it. */
static char **spec_load(const char *dir, int *argc, const char *name)
{
	int n;
	char **spec = strings_read(dir, "spec", &n);
	if (!spec) {
		fprintf(stderr, "nook: sandbox %s: its spec: %s\n", name, strerror(errno));
		return NULL;
	}
	char **argv = calloc((size_t)n + 2, sizeof(*argv));
	if (!argv) {
		free(spec);
		fprintf(stderr, "nook: out of memory\n");
		return NULL;
	}
	argv[0] = (char *)"run";
	memcpy(argv + 1, spec, (size_t)n * sizeof(*argv));
	/* The strings live in spec's block, kept at argv's end. */
	argv[n + 1] = (char *)spec;
	*argc = n + 1;
	return argv;
}

static void spec_free(char **argv, int argc)
{
	if (argv)
		free(argv[argc]);
	free(argv);
}

/* ---- creating ---- */

static void make_name(char *out, size_t len)
{
	unsigned char b[4] = {0};
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, b, sizeof(b)) != (ssize_t)sizeof(b)) {
		unsigned v = (unsigned)getpid() ^ (unsigned)time(NULL);
		memcpy(b, &v, sizeof(b));
	}
	if (fd >= 0)
		close(fd);
	snprintf(out, len, "nook-%02x%02x%02x%02x", b[0], b[1], b[2], b[3]);
}

/* Makes the sandbox's directory with its spec (spec_argv[0..n)) and state. */
static int create_sandbox(const char *name, int n, char *const *spec_argv, char *dir, size_t len)
{
	int r = sandbox_path(name, dir, len);
	if (r)
		return r;
	if (mkdir(dir, 0700) < 0) {
		if (errno == EEXIST)
			return fail("a sandbox named \"%s\" exists already%s", name, "");
		return fail("sandbox %s: %s", dir, strerror(errno));
	}
	struct sandbox_state st = {.exit_code = -1, .created = (long long)time(NULL)};
	snprintf(st.status, sizeof(st.status), "created");
	if ((r = strings_write(dir, "spec", n, (const char *const *)spec_argv)) < 0 ||
	    (r = state_write(dir, &st)) < 0) {
		sandbox_remove_dir(dir);
		return fail("sandbox %s: %s", dir, strerror(-r));
	}
	return 0;
}

/* Checks run's options by applying them to a config that is thrown away. */
static int check_run_args(int argc, char **argv, const char *usage, struct run_state *st)
{
	nook_vm_config *cfg = nook_vm_config_new();
	if (!cfg)
		return fail("%s%s", "out of memory", "");
	int r = parse_run_args(argc, argv, usage, cfg, st);
	nook_vm_config_free(cfg);
	return r;
}

/* ---- the monitor ---- */

/* The last line nook wrote to vmm.log: why the VMM failed. */
static void last_error(const char *dir, char *out, size_t len)
{
	char path[4200], line[1024];
	snprintf(path, sizeof(path), "%s/vmm.log", dir);
	out[0] = '\0';
	FILE *f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f))
		if (line[0] != '\n' && snprintf(out, len, "%s", line) >= (int)len)
			out[len - 2] = '\n'; /* cut short */
	fclose(f);
	out[strcspn(out, "\n")] = '\0';
}

/* Whether nook-init's agent answers on the sandbox's vsock socket. */
static bool agent_ready(const char *dir)
{
	char path[4200];
	snprintf(path, sizeof(path), "%s/" SANDBOX_VSOCK, dir);
	return nook_exec_ping(path) == 0;
}

/* The VMM: a fresh `nook run --sandbox-dir DIR SPEC...`, which ps shows
 * as what it is. */
static _Noreturn void vmm_main(const char *dir, const sigset_t *mask)
{
	int argc;
	char **spec = spec_load(dir, &argc, dir);
	char **argv = spec ? calloc((size_t)argc + 4, sizeof(*argv)) : NULL;
	if (!argv)
		_exit(EXIT_NOOK_FAILED);
	argv[0] = (char *)"nook";
	argv[1] = (char *)"run";
	argv[2] = (char *)"--sandbox-dir";
	argv[3] = (char *)dir;
	memcpy(argv + 4, spec + 1, (size_t)(argc - 1) * sizeof(*argv));
	sigprocmask(SIG_SETMASK, mask, NULL);
	/* By its own name: /proc/self/exe would name the process "exe". */
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		execv(self, argv);
	}
	execv("/proc/self/exe", argv);
	fprintf(stderr, "nook: sandbox %s: cannot start its VMM: %s\n", dir, strerror(errno));
	_exit(EXIT_NOOK_FAILED);
}

/* Output fds of the monitor and VMM: stdin /dev/null, stdout the log,
 * stderr vmm.log. */
static int redirect_stdio(const char *dir)
{
	char log[4200], vmm[4200];
	snprintf(log, sizeof(log), "%s/log", dir);
	snprintf(vmm, sizeof(vmm), "%s/vmm.log", dir);
	int in = open("/dev/null", O_RDONLY);
	int out = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
	int err = open(vmm, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	int r = in >= 0 && out >= 0 && err >= 0 && dup2(in, 0) == 0 && dup2(out, 1) == 1 &&
			dup2(err, 2) == 2 ? 0 : -1;
	for (int fd = in; fd > 2; fd = -1)
		close(fd);
	if (out > 2)
		close(out);
	if (err > 2)
		close(err);
	return r;
}

/* Records how the VMM ended. */
static void record_end(const char *dir, int wstatus)
{
	struct sandbox_state st;
	state_read(dir, &st);
	st.finished = (long long)time(NULL);
	st.pid = 0;
	st.error[0] = '\0';
	if (WIFEXITED(wstatus)) {
		snprintf(st.status, sizeof(st.status), "exited");
		st.exit_code = WEXITSTATUS(wstatus);
		/* 125: nook failed; above it the VMM may have been killed (a
		 * jailed one reports a signal as 128+N). */
		if (st.exit_code >= EXIT_NOOK_FAILED)
			last_error(dir, st.error, sizeof(st.error));
	} else {
		snprintf(st.status, sizeof(st.status), "dead");
		st.exit_code = -1;
		snprintf(st.error, sizeof(st.error), "the VMM was killed by signal %d (%s)",
			 WTERMSIG(wstatus), strsignal(WTERMSIG(wstatus)));
	}
	state_write(dir, &st);
}

/* The monitor: starts the VMM, tells `notify` 'R' once the guest is ready
 * (or closes it when it never is), passes signals on, records the end. */
static int monitor_main(const char *dir, int notify)
{
	/* Nothing of the command that started it (a console port's FIFO,
	 * say) stays open for the sandbox's lifetime. */
	if (notify > 3)
		close_range(3, (unsigned)notify - 1, 0);
	close_range((unsigned)notify + 1, ~0u, 0);
	char path[4200];
	snprintf(path, sizeof(path), "%s/monitor.lock", dir);
	int lock = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	struct flock l = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	if (lock < 0 || fcntl(lock, F_SETLK, &l) < 0 || redirect_stdio(dir) < 0)
		return 1;
	sigset_t set, old;
	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SANDBOX_SIG_SIGNAL);
	sigaddset(&set, SANDBOX_SIG_STOP);
	sigprocmask(SIG_BLOCK, &set, &old);
	int sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		return 1;
	pid_t monitor = getpid();
	pid_t vmm = fork();
	if (vmm == 0) {
		/* The VM goes with its monitor. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != monitor)
			_exit(EXIT_NOOK_FAILED);
		close(sfd);
		close(lock);
		close(notify);
		vmm_main(dir, &old);
	}
	if (vmm < 0)
		return 1;
	struct sandbox_state st;
	state_read(dir, &st);
	snprintf(st.status, sizeof(st.status), "running");
	st.started = (long long)time(NULL);
	st.finished = 0;
	st.pid = vmm;
	st.exit_code = -1;
	st.error[0] = '\0';
	state_write(dir, &st);

	for (;;) {
		struct pollfd p = {.fd = sfd, .events = POLLIN};
		int n = poll(&p, 1, notify >= 0 ? 200 : -1);
		if (n == 0 && notify >= 0 && agent_ready(dir)) {
			(void)!write(notify, "R", 1);
			close(notify);
			notify = -1;
		}
		struct signalfd_siginfo si;
		if (n <= 0 || read(sfd, &si, sizeof(si)) != (ssize_t)sizeof(si))
			continue;
		int sig = (int)si.ssi_signo;
		if (sig == SIGCHLD) {
			int wstatus;
			if (waitpid(vmm, &wstatus, WNOHANG) != vmm)
				continue;
			record_end(dir, wstatus);
			return 0;
		}
		if (sig == SANDBOX_SIG_SIGNAL || sig == SANDBOX_SIG_STOP)
			sigqueue(vmm, sig, (union sigval){.sival_int = si.ssi_int});
		else /* the monitor asked to end: the VM stops as with nook stop */
			sigqueue(vmm, SANDBOX_SIG_STOP, (union sigval){.sival_int = NOOK_VM_STOP_TIMEOUT_MS});
	}
}

/* Starts the sandbox in `dir` and waits until it is ready for execs.
 * 0, or EXIT_NOOK_FAILED after saying why. */
static int start_sandbox(const char *name, const char *dir)
{
	if (sandbox_monitor(dir))
		return fail("sandbox %s is running already%s", name, "");
	int notify[2];
	if (pipe2(notify, O_CLOEXEC) < 0)
		return fail("start %s: %s", name, strerror(errno));
	fflush(NULL);
	pid_t pid = fork();
	if (pid == 0) {
		/* A daemon: its own session, not a child of this command. */
		close(notify[0]);
		if (setsid() < 0)
			_exit(1);
		pid_t m = fork();
		if (m != 0)
			_exit(m < 0);
		_exit(monitor_main(dir, notify[1]));
	}
	close(notify[1]);
	if (pid < 0) {
		close(notify[0]);
		return fail("start %s: %s", name, strerror(errno));
	}
	waitpid(pid, NULL, 0);
	bool tty = isatty(STDERR_FILENO);
	uint64_t t0 = monotonic_now_ns();
	char c = 0;
	for (;;) {
		struct pollfd p = {.fd = notify[0], .events = POLLIN};
		if (poll(&p, 1, 1000) == 0) {
			if (tty)
				fprintf(stderr, "\rnook: starting sandbox %s... %.0f s", name,
					(double)(monotonic_now_ns() - t0) / 1e9);
			continue;
		}
		if (read(notify[0], &c, 1) < 0 && errno == EINTR)
			continue;
		break;
	}
	close(notify[0]);
	if (tty)
		fprintf(stderr, "\r\033[K");
	if (c == 'R')
		return 0;
	/* A program that ran and ended before the agent answered (125 and
	 * up: nook failed, the program was not found, a signal). */
	struct sandbox_state st;
	if (state_read(dir, &st) == 0 && strcmp(st.status, "exited") == 0 &&
	    st.exit_code < EXIT_NOOK_FAILED)
		return 0;
	char why[512];
	last_error(dir, why, sizeof(why));
	return fail("sandbox %s did not start: %s", name, why[0] ? why : "its monitor failed");
}

/* ---- stopping ---- */

/* Waits up to `seconds` for the monitor to end; whether it did. */
static bool wait_monitor_gone(const char *dir, unsigned seconds)
{
	for (unsigned i = 0; i < seconds * 10; i++) {
		if (!sandbox_monitor(dir))
			return true;
		nanosleep(&(struct timespec){.tv_nsec = 100000000}, NULL);
	}
	return !sandbox_monitor(dir);
}

/* SIGTERM for the program, the VM ended by force `seconds` later. */
static int stop_sandbox(const char *name, const char *dir, unsigned seconds)
{
	pid_t m = sandbox_monitor(dir);
	if (!m)
		return 0;
	if (sigqueue(m, SANDBOX_SIG_STOP, (union sigval){.sival_int = (int)(seconds * 1000)}) < 0 &&
	    errno != ESRCH)
		return fail("stop %s: %s", name, strerror(errno));
	if (wait_monitor_gone(dir, seconds + STOP_GRACE_S))
		return 0;
	/* The VMM does not answer: its monitor takes it along. */
	if ((m = sandbox_monitor(dir)))
		kill(m, SIGKILL);
	wait_monitor_gone(dir, 5);
	struct sandbox_state st;
	if (state_read(dir, &st) == 0 && strcmp(st.status, "running") == 0) {
		snprintf(st.status, sizeof(st.status), "exited");
		st.exit_code = 128 + SIGKILL;
		st.finished = (long long)time(NULL);
		st.pid = 0;
		snprintf(st.error, sizeof(st.error), "the VMM did not end: killed");
		state_write(dir, &st);
	}
	return 0;
}

/* ---- run -d, run -t ---- */

int run_in_sandbox(int argc, char **argv, int prog, const struct run_state *st)
{
	if (st->tty && st->detach)
		return fail("run: -t with -d: start it detached, then 'nook exec -it NAME "
			    "PROGRAM'%s%s", "", "");
	if (!st->detach && !st->tty)
		return fail("run: --name needs -d (a named sandbox runs detached; see 'nook "
			    "create --help')%s%s", "", "");
	if (st->tty && prog >= argc && !st->image)
		return fail("run: -t: no PROGRAM given%s%s", "", "");
	if (st->vsock)
		return fail(SANDBOX_NO_VSOCK "%s%s", "", "");
	/* -t: the program (the image's, PROGRAM ARGS in its Cmd's place) */
	const char **image_argv = NULL;
	if (st->tty && st->image) {
		int r = run_image_program(st, argv + prog, (size_t)(argc - prog), &image_argv);
		if (r)
			return r;
	}
	char name[SANDBOX_NAME_MAX + 1], dir[4096];
	if (st->name)
		snprintf(name, sizeof(name), "%s", st->name);
	else
		make_name(name, sizeof(name));
	/* -d: the whole command line; -t: the options, the program is an exec. */
	int n = st->detach ? argc - 1 : prog - 1;
	if (!st->detach && n > 0 && strcmp(argv[n], "--") == 0)
		n--;
	int r = create_sandbox(name, n, argv + 1, dir, sizeof(dir));
	if (r == 0)
		r = start_sandbox(name, dir);
	if (r == 0 && st->detach) {
		printf("%s\n", name);
		return 0;
	}
	if (r == 0) {
		struct exec_request req = {
			.argv = image_argv ? image_argv : (const char *const *)argv + prog,
			.env = st->env,
			.nenv = st->nenv,
			.workdir = st->workdir,
			.user = st->user,
			.interactive = st->interactive,
			.tty = true,
		};
		r = exec_in_sandbox(name, dir, &req);
		stop_sandbox(name, dir, 0);
	}
	free(image_argv);
	/* A sandbox of -t without --name is gone with its program. */
	if (!st->name && sandbox_monitor(dir) == 0)
		sandbox_remove_dir(dir);
	return r;
}

/* ---- the commands ---- */

int cmd_create(int argc, char **argv)
{
	struct run_state st = {0};
	int r = check_run_args(argc, argv, usage_create, &st);
	if (r == 0 && (st.detach || st.tty))
		r = fail("create: -d and -t are for run (a created sandbox starts detached; "
			 "'nook exec -t' gives a terminal)%s%s", "", "");
	if (r == 0 && st.vsock)
		r = fail(SANDBOX_NO_VSOCK "%s%s", "", "");
	char name[SANDBOX_NAME_MAX + 1], dir[4096];
	if (st.name)
		snprintf(name, sizeof(name), "%s", st.name);
	else
		make_name(name, sizeof(name));
	run_state_free(&st);
	if (r)
		return r < 0 ? 0 : r;
	r = create_sandbox(name, argc - 1, argv + 1, dir, sizeof(dir));
	if (r == 0)
		printf("%s\n", name);
	return r;
}

/* Runs fn for each NAME operand after the options; the last failure. */
static int for_each_name(int argc, char **argv, int first,
			 int (*fn)(const char *name, const char *dir, void *arg), void *arg)
{
	if (first >= argc)
		return fail("%s: no sandbox NAME given%s", argv[0], "");
	int status = 0;
	for (int i = first; i < argc; i++) {
		char dir[4096];
		int r = sandbox_find(argv[i], dir, sizeof(dir));
		if (r == 0)
			r = fn(argv[i], dir, arg);
		if (r)
			status = r;
	}
	return status;
}

static int start_one(const char *name, const char *dir, void *arg)
{
	(void)arg;
	int r = start_sandbox(name, dir);
	if (r == 0)
		printf("%s\n", name);
	return r;
}

static bool is_help(int argc, char **argv)
{
	return argc == 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0);
}

int cmd_start(int argc, char **argv)
{
	if (is_help(argc, argv)) {
		fputs(usage_create, stdout);
		return 0;
	}
	return for_each_name(argc, argv, 1, start_one, NULL);
}

static int stop_one(const char *name, const char *dir, void *arg)
{
	int r = stop_sandbox(name, dir, *(unsigned *)arg);
	if (r == 0)
		printf("%s\n", name);
	return r;
}

int cmd_stop(int argc, char **argv)
{
	unsigned seconds = NOOK_VM_STOP_TIMEOUT_MS / 1000;
	int opt;
	optind = 1;
	while ((opt = getopt(argc, argv, "+ht:")) != -1) {
		uint64_t n;
		if (opt == 'h') {
			fputs(usage_create, stdout);
			return 0;
		}
		if (opt != 't' || parse_count("stop -t", optarg, 86400, &n) < 0)
			return EXIT_NOOK_FAILED;
		seconds = (unsigned)n;
	}
	return for_each_name(argc, argv, optind, stop_one, &seconds);
}

/* KILL, SIGKILL or 9. */
static int parse_signal(const char *text)
{
	static const struct {
		const char *name;
		int sig;
	} names[] = {
		{"HUP", SIGHUP}, {"INT", SIGINT}, {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
		{"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TERM", SIGTERM}, {"CONT", SIGCONT},
		{"STOP", SIGSTOP}, {"ALRM", SIGALRM}, {"WINCH", SIGWINCH}, {"PIPE", SIGPIPE},
	};
	uint64_t n;
	if (text[0] >= '0' && text[0] <= '9')
		return parse_count("kill -s", text, 64, &n) == 0 && n >= 1 ? (int)n : -1;
	if (strncmp(text, "SIG", 3) == 0)
		text += 3;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(text, names[i].name) == 0)
			return names[i].sig;
	fprintf(stderr, "nook: kill -s \"%s\": expected a signal name (TERM, KILL, ...) or a "
		"number from 1 to 64\n", text);
	return -1;
}

static int kill_one(const char *name, const char *dir, void *arg)
{
	pid_t m = sandbox_monitor(dir);
	if (!m)
		return fail("sandbox %s is not running%s", name, "");
	if (sigqueue(m, SANDBOX_SIG_SIGNAL, (union sigval){.sival_int = *(int *)arg}) < 0)
		return fail("kill %s: %s", name, strerror(errno));
	printf("%s\n", name);
	return 0;
}

int cmd_kill(int argc, char **argv)
{
	int sig = SIGKILL, opt;
	optind = 1;
	while ((opt = getopt(argc, argv, "+hs:")) != -1) {
		if (opt == 'h') {
			fputs(usage_create, stdout);
			return 0;
		}
		if (opt != 's' || (sig = parse_signal(optarg)) < 0)
			return EXIT_NOOK_FAILED;
	}
	return for_each_name(argc, argv, optind, kill_one, &sig);
}

static int rm_one(const char *name, const char *dir, void *arg)
{
	if (sandbox_monitor(dir)) {
		if (!*(bool *)arg)
			return fail("sandbox %s is running: stop it first, or rm -f%s", name, "");
		int r = stop_sandbox(name, dir, 0);
		if (r)
			return r;
	}
	int specc;
	char **spec = spec_load(dir, &specc, name);
	struct spec_info info = {0};
	if (spec)
		spec_scan(specc, spec, &info);
	if (info.group)
		group_leave(info.group, name);
	spec_free(spec, specc);
	int r = sandbox_remove_dir(dir);
	if (r < 0)
		return fail("rm %s: %s", dir, r == -ENOTEMPTY ? "it holds files nook did not make"
							   : strerror(-r));
	printf("%s\n", name);
	return 0;
}

/* The one option of rm and logs, -f: 0; -1 after -h; else 125. */
static int parse_f(int argc, char **argv, bool *f)
{
	int opt;
	*f = false;
	optind = 1;
	while ((opt = getopt(argc, argv, "+hf")) != -1) {
		if (opt == 'h') {
			fputs(usage_create, stdout);
			return -1;
		}
		if (opt != 'f')
			return EXIT_NOOK_FAILED;
		*f = true;
	}
	return 0;
}

int cmd_rm(int argc, char **argv)
{
	bool force;
	int r = parse_f(argc, argv, &force);
	return r ? (r < 0 ? 0 : r) : for_each_name(argc, argv, optind, rm_one, &force);
}

int cmd_logs(int argc, char **argv)
{
	bool follow;
	int r = parse_f(argc, argv, &follow);
	if (r)
		return r < 0 ? 0 : r;
	if (optind != argc - 1)
		return fail("logs: expected one sandbox NAME%s%s", "", "");
	char dir[4096], path[4200];
	if ((r = sandbox_find(argv[optind], dir, sizeof(dir))))
		return r;
	snprintf(path, sizeof(path), "%s/log", dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT && !follow)
		return 0;
	if (fd < 0)
		return fail("logs %s: %s", path, strerror(errno));
	char buf[65536];
	for (;;) {
		ssize_t n = read(fd, buf, sizeof(buf));
		if (n > 0) {
			if (fwrite(buf, 1, (size_t)n, stdout) != (size_t)n)
				break;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		fflush(stdout);
		/* At the end: follow while the sandbox runs, then read what
		 * came last. */
		if (n < 0 || !follow)
			break;
		if (!sandbox_monitor(dir))
			follow = false;
		else
			nanosleep(&(struct timespec){.tv_nsec = 200000000}, NULL);
	}
	close(fd);
	return 0;
}

/* ---- ps, inspect ---- */

static void print_time(FILE *f, long long t)
{
	if (t)
		fprintf(f, "%lld", t);
	else
		fputs("null", f);
}

/* One sandbox as a JSON object. */
static void print_json(const char *name, const char *dir, const struct sandbox_state *st,
		       char **spec, int specc, bool full)
{
	struct spec_info info;
	spec_scan(specc, spec, &info);
	printf("{\"name\":");
	json_string(stdout, name);
	printf(",\"status\":");
	json_string(stdout, st->status);
	printf(",\"created\":");
	print_time(stdout, st->created);
	printf(",\"started\":");
	print_time(stdout, st->started);
	printf(",\"finished\":");
	print_time(stdout, st->finished);
	printf(",\"pid\":%ld,\"exit_code\":", st->pid);
	if (st->exit_code >= 0)
		printf("%d", st->exit_code);
	else
		fputs("null", stdout);
	printf(",\"error\":");
	json_string(stdout, st->error);
	printf(",\"command\":[");
	for (int i = info.prog; i < specc; i++) {
		if (i > info.prog)
			putchar(',');
		json_string(stdout, spec[i]);
	}
	printf("],\"ports\":[");
	for (size_t i = 0; i < info.nports; i++) {
		if (i)
			putchar(',');
		json_string(stdout, info.ports[i]);
	}
	printf("],\"group\":");
	if (info.group)
		json_string(stdout, info.group);
	else
		fputs("null", stdout);
	if (full) {
		char path[4200];
		printf(",\"options\":[");
		for (int i = 1; i < info.prog; i++) {
			if (i > 1)
				putchar(',');
			json_string(stdout, spec[i]);
		}
		printf("],\"directory\":");
		json_string(stdout, dir);
		snprintf(path, sizeof(path), "%s/log", dir);
		printf(",\"log\":");
		json_string(stdout, path);
		snprintf(path, sizeof(path), "%s/" SANDBOX_VSOCK, dir);
		printf(",\"vsock\":");
		json_string(stdout, path);
	}
	putchar('}');
}

static void print_row(const char *name, const struct sandbox_state *st, char **spec, int specc)
{
	struct spec_info info;
	spec_scan(specc, spec, &info);
	char status[64], created[32] = "-", ports[256] = "", command[256] = "";
	if (strcmp(st->status, "exited") == 0)
		snprintf(status, sizeof(status), "exited (%d)", st->exit_code);
	else
		snprintf(status, sizeof(status), "%s", st->status);
	time_t t = (time_t)st->created;
	struct tm tm;
	if (t && localtime_r(&t, &tm))
		strftime(created, sizeof(created), "%Y-%m-%d %H:%M:%S", &tm);
	for (size_t i = 0, at = 0; i < info.nports && at < sizeof(ports); i++)
		at += (size_t)snprintf(ports + at, sizeof(ports) - at, "%s%s", i ? "," : "",
				       info.ports[i]);
	for (int i = info.prog, at = 0; i < specc && at < (int)sizeof(command); i++)
		at += snprintf(command + at, sizeof(command) - (size_t)at, "%s%s",
			       i > info.prog ? " " : "", spec[i]);
	printf("%-24s %-12s %-19s %-24s %s\n", name, status, created, ports[0] ? ports : "-",
	       command[0] ? command : "(idle)");
}

static int names_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int cmd_ps(int argc, char **argv)
{
	static const struct option opts[] = {
		{"all", no_argument, NULL, 'a'},
		{"format", required_argument, NULL, 'F'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	bool all = false, json = false;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+ah", opts, NULL)) != -1) {
		if (opt == 'h') {
			fputs(usage_create, stdout);
			return 0;
		}
		if (opt == 'a')
			all = true;
		else if (opt == 'F' && (strcmp(optarg, "json") == 0 || strcmp(optarg, "table") == 0))
			json = optarg[0] == 'j';
		else
			return opt == 'F' ? fail("ps --format \"%s\": expected table or json%s", optarg, "")
					  : EXIT_NOOK_FAILED;
	}
	if (optind != argc)
		return fail("ps: unexpected \"%s\"%s", argv[optind], "");
	char base[4096];
	int r = runtime_dir(base, sizeof(base));
	if (r)
		return r;
	DIR *d = opendir(base);
	if (!d)
		return fail("ps: %s: %s", base, strerror(errno));
	char **names = NULL;
	size_t n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.')
			continue;
		char **more = realloc(names, (n + 1) * sizeof(*names));
		if (!more || !(more[n] = strdup(e->d_name))) {
			names = more ? more : names;
			break;
		}
		names = more;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), names_cmp);
	if (!json)
		printf("%-24s %-12s %-19s %-24s %s\n", "NAME", "STATUS", "CREATED", "PORTS", "COMMAND");
	else
		putchar('[');
	bool first = true;
	for (size_t i = 0; i < n; i++) {
		char dir[4200];
		struct sandbox_state st;
		snprintf(dir, sizeof(dir), "%s/%s", base, names[i]);
		if (state_read(dir, &st) == 0) {
			state_effective(dir, &st);
			int specc = 0;
			char **spec = spec_load(dir, &specc, names[i]);
			if (spec && (all || strcmp(st.status, "running") == 0)) {
				if (json) {
					printf(first ? "" : ",");
					print_json(names[i], dir, &st, spec, specc, false);
				} else {
					print_row(names[i], &st, spec, specc);
				}
				first = false;
			}
			spec_free(spec, specc);
		}
		free(names[i]);
	}
	free(names);
	if (json)
		puts("]");
	return 0;
}

int cmd_inspect(int argc, char **argv)
{
	if (is_help(argc, argv)) {
		fputs(usage_create, stdout);
		return 0;
	}
	if (argc != 2)
		return fail("inspect: expected one sandbox NAME%s%s", "", "");
	char dir[4096];
	int r = sandbox_find(argv[1], dir, sizeof(dir));
	if (r)
		return r;
	struct sandbox_state st;
	if ((r = state_read(dir, &st)) < 0)
		return fail("inspect %s: %s", argv[1], strerror(-r));
	state_effective(dir, &st);
	int specc;
	char **spec = spec_load(dir, &specc, argv[1]);
	if (!spec)
		return EXIT_NOOK_FAILED;
	print_json(argv[1], dir, &st, spec, specc, true);
	putchar('\n');
	spec_free(spec, specc);
	return 0;
}
