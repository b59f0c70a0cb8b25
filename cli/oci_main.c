/* nook-runtime: runc's command line for podman, containerd and
 * Kubernetes; each container is a nook microVM whose VMM is the
 * container's process (oci.h). */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/oci.h"

static const char usage_main[] =
	"Usage: nook-runtime [GLOBAL OPTIONS] COMMAND [OPTIONS] ID\n"
	"\n"
	"An OCI runtime (runc's command line) that runs each container in its own\n"
	"nook microVM: for podman --runtime, containerd's runc shim (BinaryName) and\n"
	"Kubernetes RuntimeClasses.\n"
	"\n"
	"Commands:\n"
	"  create --bundle DIR [--pid-file FILE] [--console-socket SOCKET] ID\n"
	"  start ID                 run the created container's process\n"
	"  state ID                 the runtime spec's state, as JSON\n"
	"  kill ID [SIGNAL]         a signal for the process (KILL ends the VM; default TERM)\n"
	"  delete [--force] ID      remove a stopped container (--force: kill it first)\n"
	"  exec --process FILE [--detach] [--pid-file FILE] [--console-socket SOCKET]\n"
	"       [--tty] ID          another process in the running container\n"
	"  ps [--format table|json] ID\n"
	"  features                 what this runtime supports, as JSON\n"
	"\n"
	"Global options:\n"
	"  --root DIR               containers' state (default " OCI_DEFAULT_ROOT ")\n"
	"  --log FILE               errors (and with --debug more) to FILE\n"
	"  --log-format text|json   FILE's format (default text)\n"
	"  --debug                  log debug messages\n"
	"  --systemd-cgroup         accepted (a VM's resources are its size)\n"
	"  -h, --help, --version\n";

/* ---- create ---- */

/* The VMM waits here until `start` opens the FIFO; 0 once started. */
static int wait_start(const char *fifo)
{
	int fd;
	while ((fd = open(fifo, O_WRONLY | O_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (fd < 0)
		return -errno;
	ssize_t n = write(fd, "0", 1);
	close(fd);
	return n == 1 ? 0 : -EIO;
}

/* The container's process: the VMM, in the container's network namespace,
 * started by `start`. What fails before `created` goes to create over
 * `sync` (a message), afterwards to stderr, the container's. */
static int vmm_main(struct oci_container *c, struct oci_spec *spec, nook_vm_config *cfg,
		    int netns_fd, int sync, uint64_t t_main)
{
	char msg[512] = "";
	if (netns_fd >= 0 && setns(netns_fd, CLONE_NEWNET) < 0)
		snprintf(msg, sizeof(msg), "joining the network namespace %s: %s", spec->netns,
			 strerror(errno));
	if (netns_fd >= 0)
		close(netns_fd);
	if (write(sync, msg[0] ? msg : "C", msg[0] ? strlen(msg) : 1) < 0 || msg[0])
		return EXIT_NOOK_FAILED;
	close(sync);
	char fifo[4200];
	snprintf(fifo, sizeof(fifo), "%s/" OCI_START_FIFO, c->dir);
	int r = wait_start(fifo);
	if (r < 0)
		return fail("waiting for start: %s%s", strerror(-r), "");
	struct run_state st = {0};
	if (!spec->process.terminal)
		return run_config(cfg, &st, t_main);
	char vsock[4200];
	snprintf(vsock, sizeof(vsock), "%s/" OCI_VSOCK, c->sock_dir);
	return oci_terminal_main(cfg, &st, vsock, &spec->process, t_main);
}

int oci_cmd_create(const char *root, int argc, char **argv)
{
	static const struct option opts[] = {
		{"bundle", required_argument, NULL, 'b'},
		{"pid-file", required_argument, NULL, 'p'},
		{"console-socket", required_argument, NULL, 'c'},
		{"no-pivot", no_argument, NULL, 'n'},
		{"no-new-keyring", no_argument, NULL, 'n'},
		{"preserve-fds", required_argument, NULL, 'n'},
		{NULL, 0, NULL, 0},
	};
	uint64_t t_main = monotonic_now_ns();
	const char *bundle = ".", *pid_file = NULL, *console = NULL;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+b:", opts, NULL)) != -1) {
		if (opt == 'b')
			bundle = optarg;
		else if (opt == 'p')
			pid_file = optarg;
		else if (opt == 'c')
			console = optarg;
		else if (opt == '?')
			return oci_fail("create: unknown option (see nook-runtime --help)");
	}
	if (optind != argc - 1)
		return oci_fail("create: expected one container ID");
	char bundle_abs[PATH_MAX];
	if (!realpath(bundle, bundle_abs))
		return oci_fail("create: --bundle %s: %s", bundle, strerror(errno));

	struct oci_container c;
	struct oci_spec spec;
	nook_vm_config *cfg = nook_vm_config_new();
	if (!cfg)
		return oci_fail("out of memory");
	int status = oci_container_make(root, argv[optind], &c);
	if (status) {
		nook_vm_config_free(cfg);
		return status;
	}
	snprintf(c.bundle, sizeof(c.bundle), "%s", bundle_abs);
	char vsock[4200], fifo[4200];
	snprintf(vsock, sizeof(vsock), "%s/" OCI_VSOCK, c.sock_dir);
	snprintf(fifo, sizeof(fifo), "%s/" OCI_START_FIFO, c.dir);
	int netns_fd = -1, slave = -1, sync[2] = {-1, -1};
	status = oci_spec_load(bundle_abs, vsock, &spec, cfg);
	if (status == 0 && spec.annotations)
		c.annotations = json_object_get(spec.annotations);
	c.terminal = status == 0 && spec.process.terminal;
	if (status == 0)
		status = oci_container_save(&c);
	if (status == 0 && mkfifo(fifo, 0600) < 0)
		status = oci_fail("create: %s: %s", fifo, strerror(errno));
	if (status == 0 && spec.netns && (netns_fd = open(spec.netns, O_RDONLY | O_CLOEXEC)) < 0)
		status = oci_fail("config.json: network namespace %s: %s", spec.netns, strerror(errno));
	if (status == 0 && spec.process.terminal && !console)
		status = oci_fail("create: process.terminal needs --console-socket");
	if (status == 0 && spec.process.terminal)
		status = oci_console_send(console, &slave);
	if (status == 0 && pipe2(sync, O_CLOEXEC) < 0)
		status = oci_fail("create: %s", strerror(errno));
	pid_t pid = -1;
	if (status == 0) {
		fflush(NULL);
		pid = fork();
		if (pid < 0)
			status = oci_fail("create: fork: %s", strerror(errno));
	}
	if (pid == 0) {
		close(sync[0]);
		if (slave >= 0 && oci_console_attach(slave) < 0)
			_exit(EXIT_NOOK_FAILED);
		_exit(vmm_main(&c, &spec, cfg, netns_fd, sync[1], t_main));
	}
	if (netns_fd >= 0)
		close(netns_fd);
	if (slave >= 0)
		close(slave);
	if (sync[1] >= 0)
		close(sync[1]);
	if (status == 0) {
		char msg[513] = "";
		ssize_t n = read(sync[0], msg, sizeof(msg) - 1);
		if (n != 1 || msg[0] != 'C') {
			msg[n > 0 ? n : 0] = 0;
			status = oci_fail("create %s: %s", c.id, n > 0 ? msg : "the VMM ended");
		}
	}
	if (sync[0] >= 0)
		close(sync[0]);
	if (status == 0) {
		c.pid = pid;
		c.pid_start = oci_pid_start(pid);
		status = oci_container_save(&c);
	}
	if (status == 0 && pid_file)
		status = oci_pid_file(pid_file, pid);
	if (status == 0) {
		json_object *state = oci_state_json(&c, OCI_CREATED);
		status = oci_hooks_run(spec.hooks, "prestart", state);
		if (status == 0)
			status = oci_hooks_run(spec.hooks, "createRuntime", state);
		/* The container's namespaces are inside the VM: its
		 * createContainer hooks (host paths) run here, after those. */
		if (status == 0)
			status = oci_hooks_run(spec.hooks, "createContainer", state);
		json_object_put(state);
	}
	if (status && pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	if (status)
		oci_container_remove(&c);
	oci_spec_free(&spec);
	oci_container_free(&c);
	nook_vm_config_free(cfg);
	return status;
}

/* ---- start, state, kill, delete, ps ---- */

/* The command's single ID operand, loaded. */
static int load_one(const char *root, int argc, char **argv, const char *cmd,
		    struct oci_container *c)
{
	if (optind != argc - 1)
		return oci_fail("%s: expected one container ID", cmd);
	return oci_container_load(root, argv[optind], c);
}

/* A command with no options of its own but -h. */
static int no_options(int argc, char **argv, const char *cmd)
{
	optind = 1;
	static const struct option opts[] = {{NULL, 0, NULL, 0}};
	if (getopt_long(argc, argv, "+", opts, NULL) != -1)
		return oci_fail("%s: unknown option", cmd);
	return 0;
}

int oci_cmd_start(const char *root, int argc, char **argv)
{
	struct oci_container c;
	int status = no_options(argc, argv, "start");
	if (status || (status = load_one(root, argc, argv, "start", &c)))
		return status;
	enum oci_status s = oci_status(&c);
	if (s != OCI_CREATED) {
		oci_container_free(&c);
		return oci_fail("start %s: the container is %s, not created", c.id, oci_status_name(s));
	}
	char fifo[4200];
	snprintf(fifo, sizeof(fifo), "%s/" OCI_START_FIFO, c.dir);
	/* Non-blocking: a VMM that died meanwhile never opens its end. */
	int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	char b = 0;
	for (int i = 0; fd >= 0 && i < 100 && read(fd, &b, 1) != 1; i++) {
		if (!oci_pid_is(c.pid, c.pid_start))
			break;
		poll(&(struct pollfd){.fd = fd, .events = POLLIN}, 1, 100);
	}
	if (fd >= 0)
		close(fd);
	if (b != '0') {
		oci_container_free(&c);
		return oci_fail("start %s: the VMM did not take the start", c.id);
	}
	unlink(fifo);
	json_object *config = NULL, *hooks = NULL;
	char path[4200];
	snprintf(path, sizeof(path), "%s/config.json", c.bundle);
	/* poststart hooks' failures are warnings (the spec's rule). */
	if ((config = json_object_from_file(path)) && json_object_object_get_ex(config, "hooks", &hooks)) {
		json_object *state = oci_state_json(&c, OCI_RUNNING);
		if (oci_hooks_run(hooks, "poststart", state))
			oci_warn("start %s: a poststart hook failed", c.id);
		json_object_put(state);
	}
	json_object_put(config);
	oci_container_free(&c);
	return 0;
}

int oci_cmd_state(const char *root, int argc, char **argv)
{
	struct oci_container c;
	int status = no_options(argc, argv, "state");
	if (status || (status = load_one(root, argc, argv, "state", &c)))
		return status;
	json_object *state = oci_state_json(&c, oci_status(&c));
	puts(json_object_to_json_string_ext(state,
					    JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(state);
	oci_container_free(&c);
	return 0;
}

/* "KILL", "SIGKILL", "9". */
static int parse_signal(const char *s)
{
	static const struct {
		const char *name;
		int sig;
	} names[] = {
		{"HUP", SIGHUP},   {"INT", SIGINT},     {"QUIT", SIGQUIT}, {"ILL", SIGILL},
		{"TRAP", SIGTRAP}, {"ABRT", SIGABRT},   {"BUS", SIGBUS},   {"FPE", SIGFPE},
		{"KILL", SIGKILL}, {"USR1", SIGUSR1},   {"SEGV", SIGSEGV}, {"USR2", SIGUSR2},
		{"PIPE", SIGPIPE}, {"ALRM", SIGALRM},   {"TERM", SIGTERM}, {"CHLD", SIGCHLD},
		{"CONT", SIGCONT}, {"STOP", SIGSTOP},   {"TSTP", SIGTSTP}, {"TTIN", SIGTTIN},
		{"TTOU", SIGTTOU}, {"URG", SIGURG},     {"XCPU", SIGXCPU}, {"XFSZ", SIGXFSZ},
		{"VTALRM", SIGVTALRM}, {"PROF", SIGPROF}, {"WINCH", SIGWINCH}, {"IO", SIGIO},
		{"PWR", SIGPWR},   {"SYS", SIGSYS},
	};
	char *end;
	long n = strtol(s, &end, 10);
	if (*s && !*end)
		return n >= 1 && n <= 64 ? (int)n : -1;
	if (strncasecmp(s, "SIG", 3) == 0)
		s += 3;
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcasecmp(s, names[i].name) == 0)
			return names[i].sig;
	return -1;
}

/* Sends `sig` the container's way: KILL (and anything before start, when
 * the VMM only waits) to the VMM itself; other signals go on to the
 * program in the guest, through the VMM (SANDBOX_SIG_SIGNAL) or the
 * terminal relay (which passes the usual ones on). */
static int signal_container(const struct oci_container *c, enum oci_status s, int sig)
{
	if (!oci_pid_is(c->pid, c->pid_start))
		return -ESRCH;
	int r;
	if (sig == SIGKILL || s == OCI_CREATED || c->terminal)
		r = kill(c->pid, sig);
	else
		r = sigqueue(c->pid, SANDBOX_SIG_SIGNAL, (union sigval){.sival_int = sig});
	return r < 0 ? -errno : 0;
}

int oci_cmd_kill(const char *root, int argc, char **argv)
{
	static const struct option opts[] = {{"all", no_argument, NULL, 'a'}, {NULL, 0, NULL, 0}};
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+a", opts, NULL)) != -1)
		if (opt == '?')
			return oci_fail("kill: unknown option");
	if (optind >= argc || argc - optind > 2)
		return oci_fail("kill: expected a container ID and an optional SIGNAL");
	int sig = argc - optind == 2 ? parse_signal(argv[optind + 1]) : SIGTERM;
	if (sig < 0)
		return oci_fail("kill: signal \"%s\": expected a name (KILL, SIGTERM) or a number "
				"from 1 to 64", argv[optind + 1]);
	struct oci_container c;
	int status = oci_container_load(root, argv[optind], &c);
	if (status)
		return status;
	enum oci_status s = oci_status(&c);
	int r = s == OCI_CREATED || s == OCI_RUNNING ? signal_container(&c, s, sig) : -ESRCH;
	if (r == -ESRCH)
		status = oci_fail("kill %s: the container is %s, not created or running", c.id,
				  oci_status_name(oci_status(&c)));
	else if (r < 0)
		status = oci_fail("kill %s: %s", c.id, strerror(-r));
	oci_container_free(&c);
	return status;
}

int oci_cmd_delete(const char *root, int argc, char **argv)
{
	static const struct option opts[] = {{"force", no_argument, NULL, 'f'}, {NULL, 0, NULL, 0}};
	bool force = false;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+f", opts, NULL)) != -1) {
		if (opt == '?')
			return oci_fail("delete: unknown option");
		force = true;
	}
	struct oci_container c;
	int status = load_one(root, argc, argv, "delete", &c);
	if (status)
		return status;
	enum oci_status s = oci_status(&c);
	if (s != OCI_STOPPED && !force) {
		oci_container_free(&c);
		return oci_fail("delete %s: the container is %s, not stopped (--force kills it)", c.id,
				oci_status_name(s));
	}
	if (s == OCI_CREATED || s == OCI_RUNNING) {
		signal_container(&c, s, SIGKILL);
		/* Its parent reaps it; we only wait until it is no longer it. */
		for (int i = 0; i < 100 && oci_pid_is(c.pid, c.pid_start); i++)
			nanosleep(&(struct timespec){.tv_nsec = 50000000}, NULL);
	}
	json_object *config = NULL, *hooks = NULL;
	char path[4200];
	snprintf(path, sizeof(path), "%s/config.json", c.bundle);
	if ((config = json_object_from_file(path)) && json_object_object_get_ex(config, "hooks", &hooks)) {
		json_object *state = oci_state_json(&c, OCI_STOPPED);
		if (oci_hooks_run(hooks, "poststop", state))
			oci_warn("delete %s: a poststop hook failed", c.id);
		json_object_put(state);
	}
	json_object_put(config);
	status = oci_container_remove(&c);
	oci_container_free(&c);
	return status;
}

int oci_cmd_ps(const char *root, int argc, char **argv)
{
	static const struct option opts[] = {{"format", required_argument, NULL, 'f'},
					     {NULL, 0, NULL, 0}};
	bool json = false;
	int opt;
	optind = 1;
	while ((opt = getopt_long(argc, argv, "+f:", opts, NULL)) != -1) {
		if (opt == '?')
			return oci_fail("ps: unknown option");
		if (strcmp(optarg, "json") != 0 && strcmp(optarg, "table") != 0)
			return oci_fail("ps: --format \"%s\": expected table or json", optarg);
		json = optarg[0] == 'j';
	}
	struct oci_container c;
	int status = load_one(root, argc, argv, "ps", &c);
	if (status)
		return status;
	/* The guest's processes are the VM's business: the host sees the VMM. */
	bool alive = oci_pid_is(c.pid, c.pid_start);
	if (json)
		printf(alive ? "[%d]\n" : "[]\n", (int)c.pid);
	else if (alive)
		printf("PID\n%d\n", (int)c.pid);
	else
		printf("PID\n");
	oci_container_free(&c);
	return 0;
}

static int cmd_features(void)
{
	puts("{\n"
	     "  \"ociVersionMin\": \"1.0.0\",\n"
	     "  \"ociVersionMax\": \"" OCI_VERSION "\",\n"
	     "  \"hooks\": [\"prestart\", \"createRuntime\", \"createContainer\", \"poststart\",\n"
	     "    \"poststop\"],\n"
	     "  \"mountOptions\": [\"bind\", \"rbind\", \"ro\", \"rw\"],\n"
	     "  \"linux\": {\n"
	     "    \"namespaces\": [\"network\", \"pid\", \"mount\", \"ipc\", \"uts\"],\n"
	     "    \"capabilities\": [],\n"
	     "    \"cgroup\": {\"v1\": false, \"v2\": false, \"systemd\": false},\n"
	     "    \"seccomp\": {\"enabled\": false},\n"
	     "    \"apparmor\": {\"enabled\": false},\n"
	     "    \"selinux\": {\"enabled\": false}\n"
	     "  },\n"
	     "  \"annotations\": {\n"
	     "    \"io.github.nook.runtime\": \"microvm\",\n"
	     "    \"nook.cpus\": \"virtual CPUs of the container's VM\",\n"
	     "    \"nook.memory_mib\": \"memory of the container's VM in MiB\"\n"
	     "  }\n"
	     "}");
	return 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"root", required_argument, NULL, 'r'},
		{"log", required_argument, NULL, 'l'},
		{"log-format", required_argument, NULL, 'f'},
		{"debug", no_argument, NULL, 'd'},
		{"systemd-cgroup", no_argument, NULL, 's'},
		{"rootless", required_argument, NULL, 's'},
		{"criu", required_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'v'},
		{NULL, 0, NULL, 0},
	};
	/* As nook run: a closed stdout must not kill a VMM, and the file
	 * system server holds a descriptor per guest-known inode. */
	signal(SIGPIPE, SIG_IGN);
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	const char *root = OCI_DEFAULT_ROOT, *log = NULL, *format = "text";
	bool debug = false;
	int opt;
	while ((opt = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (opt) {
		case 'r':
			root = optarg;
			break;
		case 'l':
			log = optarg;
			break;
		case 'f':
			format = optarg;
			break;
		case 'd':
			debug = true;
			break;
		case 's':
			break;
		case 'h':
			fputs(usage_main, stdout);
			return 0;
		case 'v':
			printf("nook-runtime %s\nspec: %s\n", NOOK_VERSION, OCI_VERSION);
			return 0;
		default:
			fputs(usage_main, stderr);
			return 1;
		}
	}
	bool json = strcmp(format, "json") == 0;
	oci_log_open(log, json, debug);
	if (!json && strcmp(format, "text") != 0)
		return oci_fail("--log-format \"%s\": expected text or json", format);
	if (root[0] != '/')
		return oci_fail("--root \"%s\": expected an absolute path", root);
	if (optind >= argc)
		return oci_fail("no command given (see nook-runtime --help)");
	static const struct {
		const char *name;
		int (*fn)(const char *root, int argc, char **argv);
	} commands[] = {
		{"create", oci_cmd_create}, {"start", oci_cmd_start},   {"state", oci_cmd_state},
		{"kill", oci_cmd_kill},     {"delete", oci_cmd_delete}, {"exec", oci_cmd_exec},
		{"ps", oci_cmd_ps},
	};
	const char *cmd = argv[optind];
	oci_debug("%s", cmd);
	if (strcmp(cmd, "features") == 0)
		return cmd_features();
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (strcmp(cmd, commands[i].name) == 0)
			return commands[i].fn(root, argc - optind, argv + optind);
	return oci_fail("unknown command \"%s\" (see nook-runtime --help)", cmd);
}
